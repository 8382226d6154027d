"""``SqlStorage``: the SQL implementation of ``faceauth.storage.interface.StorageBackend`` (users,
face templates, apps, revoked tokens and audit events) on SQLite or PostgreSQL (``postgresql+psycopg://``).

Every method opens and closes its own transaction and returns plain domain objects, so callers never
hold a database session."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Delete, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from faceauth.config import Settings
from faceauth.domain import App, EmailTaken, NotFound, User, UsernameTaken
from faceauth.storage.interface import AuditEvent, StoredTemplate
from faceauth.storage.sql import migrate
from faceauth.storage.sql.database import SqlDatabase, rowcount
from faceauth.storage.sql.tables import (
    AppRow,
    AuditEventRow,
    FaceTemplateRow,
    RevokedTokenRow,
    UserRow,
    utcnow,
)
from faceauth.storage.timestamps import as_utc

logger = logging.getLogger(__name__)


class SqlStorage:
    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    @classmethod
    def from_url(cls, url: str) -> SqlStorage:
        return cls(SqlDatabase.from_url(url))

    @property
    def engine(self) -> Engine:
        return self.database.engine

    def close(self) -> None:
        self.database.close()

    def prepare_schema(self, settings: Settings) -> None:
        """Development: apply pending migrations; production: refuse an outdated schema."""
        migrate.prepare_schema(self.engine, settings)

    # --- users ------------------------------------------------------------------------------

    def create_user(self, *, name: str, username: str, email: str, phone: str, password_hash: str) -> User:
        """Raises UsernameTaken or EmailTaken, also when a concurrent registration wins the race."""
        self._raise_if_taken(username, email)
        row = UserRow(name=name, username=username, email=email, phone=phone, password_hash=password_hash)
        try:
            with self.database.transaction() as session:
                session.add(row)
        except IntegrityError:
            self._raise_if_taken(username, email)
            raise
        return _user(row)

    def _raise_if_taken(self, username: str, email: str) -> None:
        with self.database.session() as session:
            if session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                raise UsernameTaken()
            if session.scalar(select(UserRow.id).where(UserRow.email == email)) is not None:
                raise EmailTaken()

    def get_user(self, user_id: int) -> User | None:
        with self.database.session() as session:
            row = session.get(UserRow, user_id)
            return _user(row) if row is not None else None

    def find_user_by_login(self, login: str) -> User | None:
        """``login`` is a username or an email address, matched case-insensitively."""
        login = login.strip().lower()
        with self.database.session() as session:
            column = UserRow.email if "@" in login else UserRow.username
            row = session.scalar(select(UserRow).where(column == login))
            return _user(row) if row is not None else None

    def delete_user(self, user_id: int) -> bool:
        """Deletes the user; their face template and apps go with them (ON DELETE CASCADE), and
        their audit events lose the user id and client address, in the same transaction."""
        with self.database.transaction() as session:
            deleted = _execute_delete(session, delete(UserRow).where(UserRow.id == user_id)) > 0
            if deleted:
                session.execute(
                    update(AuditEventRow)
                    .where(AuditEventRow.user_id == user_id)
                    .values(user_id=None, client=None)
                )
        if deleted:
            self._flush_deleted_pages()
        return deleted

    # --- face templates ---------------------------------------------------------------------

    def save_template(self, user_id: int, ciphertext: bytes, key_id: str, frames_used: int) -> None:
        """Stores the user's template, replacing any earlier one."""
        now = utcnow()
        with self.database.transaction() as session:
            if session.get(UserRow, user_id) is None:
                raise NotFound("no such user")
            row = session.scalar(select(FaceTemplateRow).where(FaceTemplateRow.user_id == user_id))
            if row is None:
                session.add(
                    FaceTemplateRow(
                        user_id=user_id,
                        template=ciphertext,
                        key_id=key_id,
                        frames_used=frames_used,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.template = ciphertext
                row.key_id = key_id
                row.frames_used = frames_used
                row.updated_at = now

    def get_template(self, user_id: int) -> StoredTemplate | None:
        with self.database.session() as session:
            row = session.scalar(select(FaceTemplateRow).where(FaceTemplateRow.user_id == user_id))
            return _template(row) if row is not None else None

    def templates_not_under(self, key_id: str, after_user_id: int, limit: int) -> list[StoredTemplate]:
        query = (
            select(FaceTemplateRow)
            .where(FaceTemplateRow.key_id != key_id, FaceTemplateRow.user_id > after_user_id)
            .order_by(FaceTemplateRow.user_id)
            .limit(limit)
        )
        with self.database.session() as session:
            return [_template(row) for row in session.scalars(query)]

    def replace_template_ciphertext(
        self, user_id: int, expected: bytes, ciphertext: bytes, key_id: str
    ) -> bool:
        """Compare and set on the ciphertext; ``updated_at`` is kept (the face did not change)."""
        query = (
            update(FaceTemplateRow)
            .where(FaceTemplateRow.user_id == user_id, FaceTemplateRow.template == expected)
            .values(template=ciphertext, key_id=key_id)
        )
        with self.database.transaction() as session:
            return rowcount(session.execute(query)) == 1

    def has_template(self, user_id: int) -> bool:
        with self.database.session() as session:
            query = select(FaceTemplateRow.id).where(FaceTemplateRow.user_id == user_id)
            return session.scalar(query) is not None

    def delete_template(self, user_id: int) -> bool:
        with self.database.transaction() as session:
            query = delete(FaceTemplateRow).where(FaceTemplateRow.user_id == user_id)
            deleted = _execute_delete(session, query) > 0
        if deleted:
            self._flush_deleted_pages()
        return deleted

    def _flush_deleted_pages(self) -> None:
        """SQLite: copy the write-ahead log into the database and truncate it, so the earlier page
        images (holding the deleted template's ciphertext) leave the -wal file too; with
        ``secure_delete`` the database file then holds zeros where the rows were. Best effort: a
        reader still open keeps the log until the next checkpoint. PostgreSQL reclaims dead rows
        with (auto)vacuum; their bytes were ciphertext anyway."""
        if not self.database.is_sqlite:
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- apps -------------------------------------------------------------------------------

    def add_app(self, user_id: int, name: str, url: str | None, description: str | None) -> App:
        row = AppRow(user_id=user_id, name=name, url=url, description=description)
        with self.database.transaction() as session:
            session.add(row)
        return _app(row)

    def list_apps(self, user_id: int) -> list[App]:
        with self.database.session() as session:
            rows = session.scalars(select(AppRow).where(AppRow.user_id == user_id).order_by(AppRow.id))
            return [_app(row) for row in rows]

    def get_app(self, user_id: int, app_id: int) -> App | None:
        with self.database.session() as session:
            row = session.scalar(select(AppRow).where(AppRow.id == app_id, AppRow.user_id == user_id))
            return _app(row) if row is not None else None

    def delete_app(self, user_id: int, app_id: int) -> bool:
        """False when there is no such app or it belongs to someone else."""
        with self.database.transaction() as session:
            query = delete(AppRow).where(AppRow.id == app_id, AppRow.user_id == user_id)
            return _execute_delete(session, query) > 0

    # --- revoked tokens ---------------------------------------------------------------------

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        if self.is_token_revoked(jti):
            return
        try:
            with self.database.transaction() as session:
                session.add(RevokedTokenRow(jti=jti, expires_at=expires_at))
        except IntegrityError:
            logger.debug("token already revoked concurrently")

    def is_token_revoked(self, jti: str) -> bool:
        with self.database.session() as session:
            return session.get(RevokedTokenRow, jti) is not None

    def purge_expired_revocations(self, now: datetime | None = None) -> int:
        """Forgets revocations of tokens that have expired anyway."""
        with self.database.transaction() as session:
            query = delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < (now or utcnow()))
            return _execute_delete(session, query)

    # --- audit log --------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        *,
        success: bool,
        user_id: int | None = None,
        client: str | None = None,
        score: float | None = None,
        detail: str | None = None,
    ) -> None:
        row = AuditEventRow(
            kind=kind,
            success=success,
            user_id=user_id,
            client=client[:100] if client else None,
            score=score,
            detail=detail[:500] if detail else None,
        )
        with self.database.transaction() as session:
            session.add(row)

    def list_events(self, user_id: int | None = None, limit: int = 100) -> list[AuditEvent]:
        query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(AuditEventRow.user_id == user_id)
        with self.database.session() as session:
            return [
                AuditEvent(
                    id=row.id,
                    created_at=as_utc(row.created_at),
                    kind=row.kind,
                    success=row.success,
                    user_id=row.user_id,
                    client=row.client,
                    score=row.score,
                    detail=row.detail,
                )
                for row in session.scalars(query)
            ]

    def count_users(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(UserRow)) or 0


def _execute_delete(session: Session, statement: Delete) -> int:
    """Runs a DELETE and returns how many rows it removed."""
    return rowcount(session.execute(statement))


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        name=row.name,
        username=row.username,
        email=row.email,
        phone=row.phone,
        password_hash=row.password_hash,
        created_at=as_utc(row.created_at),
    )


def _template(row: FaceTemplateRow) -> StoredTemplate:
    return StoredTemplate(
        user_id=row.user_id,
        ciphertext=bytes(row.template),
        key_id=row.key_id,
        frames_used=row.frames_used,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _app(row: AppRow) -> App:
    return App(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        url=row.url,
        description=row.description,
        created_at=as_utc(row.created_at),
    )
