"""The SQL implementation (SQLite, PostgreSQL) of ``OidcStore``: clients, codes, consents, tokens.

Each method is its own transaction. A code is spent with one atomic ``UPDATE ... WHERE used_at IS
NULL``, so of two workers redeeming the same code at once exactly one wins."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select, update

from faceauth.storage.oidc_interface import (
    AuthorizationCodeRecord,
    ConsentRecord,
    IssuedTokenRecord,
    OidcClient,
)
from faceauth.storage.sql.database import SqlDatabase, rowcount
from faceauth.storage.sql.tables import OidcClientRow, OidcCodeRow, OidcConsentRow, OidcTokenRow
from faceauth.storage.timestamps import as_utc


class SqlOidcStore:
    """The SQL implementation of ``faceauth.storage.oidc_interface.OidcStore``."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    # --- clients ------------------------------------------------------------------------------

    def add_client(self, client: OidcClient) -> None:
        with self.database.transaction() as session:
            session.add(
                OidcClientRow(
                    client_id=client.client_id,
                    name=client.name,
                    redirect_uris=json.dumps(list(client.redirect_uris)),
                    post_logout_redirect_uris=json.dumps(list(client.post_logout_redirect_uris)),
                    secret_hash=client.secret_hash,
                    created_at=client.created_at,
                )
            )

    def get_client(self, client_id: str) -> OidcClient | None:
        with self.database.transaction() as session:
            row = session.get(OidcClientRow, client_id)
            return _client(row) if row is not None else None

    def list_clients(self) -> list[OidcClient]:
        with self.database.transaction() as session:
            rows = session.scalars(select(OidcClientRow).order_by(OidcClientRow.created_at)).all()
            return [_client(row) for row in rows]

    def set_client_secret_hash(self, client_id: str, secret_hash: str) -> bool:
        with self.database.transaction() as session:
            query = (
                update(OidcClientRow)
                .where(OidcClientRow.client_id == client_id, OidcClientRow.secret_hash.is_not(None))
                .values(secret_hash=secret_hash)
            )
            return rowcount(session.execute(query)) > 0

    def delete_client(self, client_id: str) -> bool:
        with self.database.transaction() as session:
            for table in (OidcTokenRow, OidcConsentRow, OidcCodeRow):
                session.execute(delete(table).where(table.client_id == client_id))
            result = session.execute(delete(OidcClientRow).where(OidcClientRow.client_id == client_id))
            return rowcount(result) > 0

    # --- authorization codes ------------------------------------------------------------------

    def add_code(self, code: AuthorizationCodeRecord) -> None:
        with self.database.transaction() as session:
            session.add(
                OidcCodeRow(
                    code_hash=code.code_hash,
                    client_id=code.client_id,
                    user_id=code.user_id,
                    redirect_uri=code.redirect_uri,
                    scope=code.scope,
                    nonce=code.nonce,
                    code_challenge=code.code_challenge,
                    code_challenge_method=code.code_challenge_method,
                    auth_time=code.auth_time,
                    acr=code.acr,
                    amr=" ".join(code.amr),
                    issued_at=code.issued_at,
                    expires_at=code.expires_at,
                    used_at=None,
                )
            )

    def get_code(self, code_hash: str) -> AuthorizationCodeRecord | None:
        with self.database.transaction() as session:
            row = session.get(OidcCodeRow, code_hash)
            return _code(row) if row is not None else None

    def spend_code(self, code_hash: str, now: datetime) -> bool:
        with self.database.transaction() as session:
            query = (
                update(OidcCodeRow)
                .where(OidcCodeRow.code_hash == code_hash, OidcCodeRow.used_at.is_(None))
                .values(used_at=now)
            )
            return rowcount(session.execute(query)) > 0

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self.database.transaction() as session:
            query = select(OidcCodeRow.code_hash).where(
                OidcCodeRow.client_id == client_id, OidcCodeRow.nonce == nonce
            )
            return session.execute(query.limit(1)).first() is not None

    def purge_expired_codes(self, before: datetime) -> int:
        """Codes expired before ``before``; callers keep them a while after expiry so that a replay
        still finds its code and revokes the tokens issued from it."""
        with self.database.transaction() as session:
            result = session.execute(delete(OidcCodeRow).where(OidcCodeRow.expires_at < before))
            return rowcount(result)

    # --- consents -----------------------------------------------------------------------------

    def save_consent(self, user_id: int, client_id: str, scope: str, now: datetime) -> None:
        with self.database.transaction() as session:
            row = session.get(OidcConsentRow, (user_id, client_id), with_for_update=True)
            if row is None:
                session.add(
                    OidcConsentRow(
                        user_id=user_id, client_id=client_id, scope=scope, granted_at=now, last_used_at=now
                    )
                )
                return
            united = set(row.scope.split()) | set(scope.split())
            row.scope = " ".join(sorted(united))
            row.granted_at = now
            row.last_used_at = now

    def get_consent(self, user_id: int, client_id: str) -> ConsentRecord | None:
        with self.database.transaction() as session:
            row = session.get(OidcConsentRow, (user_id, client_id))
            return _consent(row) if row is not None else None

    def touch_consent(self, user_id: int, client_id: str, now: datetime) -> None:
        with self.database.transaction() as session:
            session.execute(
                update(OidcConsentRow)
                .where(OidcConsentRow.user_id == user_id, OidcConsentRow.client_id == client_id)
                .values(last_used_at=now)
            )

    def list_consents(self, user_id: int) -> list[ConsentRecord]:
        with self.database.transaction() as session:
            query = (
                select(OidcConsentRow)
                .where(OidcConsentRow.user_id == user_id)
                .order_by(OidcConsentRow.last_used_at.desc())
            )
            return [_consent(row) for row in session.scalars(query).all()]

    def delete_consent(self, user_id: int, client_id: str) -> bool:
        with self.database.transaction() as session:
            result = session.execute(
                delete(OidcConsentRow).where(
                    OidcConsentRow.user_id == user_id, OidcConsentRow.client_id == client_id
                )
            )
            return rowcount(result) > 0

    # --- issued tokens ------------------------------------------------------------------------

    def add_token(self, token: IssuedTokenRecord) -> None:
        with self.database.transaction() as session:
            session.add(
                OidcTokenRow(
                    jti=token.jti,
                    client_id=token.client_id,
                    user_id=token.user_id,
                    scope=token.scope,
                    code_hash=token.code_hash,
                    issued_at=token.issued_at,
                    expires_at=token.expires_at,
                    revoked_at=token.revoked_at,
                )
            )

    def get_token(self, jti: str) -> IssuedTokenRecord | None:
        with self.database.transaction() as session:
            row = session.get(OidcTokenRow, jti)
            return _token(row) if row is not None else None

    def revoke_token(self, jti: str, now: datetime) -> bool:
        with self.database.transaction() as session:
            query = (
                update(OidcTokenRow)
                .where(OidcTokenRow.jti == jti, OidcTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return rowcount(session.execute(query)) > 0

    def revoke_tokens_of_code(self, code_hash: str, now: datetime) -> int:
        with self.database.transaction() as session:
            query = (
                update(OidcTokenRow)
                .where(OidcTokenRow.code_hash == code_hash, OidcTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return rowcount(session.execute(query))

    def revoke_tokens_of(self, user_id: int, client_id: str | None, now: datetime) -> int:
        with self.database.transaction() as session:
            query = update(OidcTokenRow).where(
                OidcTokenRow.user_id == user_id,
                OidcTokenRow.revoked_at.is_(None),
                OidcTokenRow.expires_at > now,
            )
            if client_id is not None:
                query = query.where(OidcTokenRow.client_id == client_id)
            return rowcount(session.execute(query.values(revoked_at=now)))


def _client(row: OidcClientRow) -> OidcClient:
    return OidcClient(
        client_id=row.client_id,
        name=row.name,
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
        secret_hash=row.secret_hash,
        created_at=as_utc(row.created_at),
    )


def _code(row: OidcCodeRow) -> AuthorizationCodeRecord:
    return AuthorizationCodeRecord(
        code_hash=row.code_hash,
        client_id=row.client_id,
        user_id=row.user_id,
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        nonce=row.nonce,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        auth_time=as_utc(row.auth_time),
        acr=row.acr,
        amr=tuple(row.amr.split()),
        issued_at=as_utc(row.issued_at),
        expires_at=as_utc(row.expires_at),
        used_at=as_utc(row.used_at) if row.used_at is not None else None,
    )


def _consent(row: OidcConsentRow) -> ConsentRecord:
    return ConsentRecord(
        user_id=row.user_id,
        client_id=row.client_id,
        scope=row.scope,
        granted_at=as_utc(row.granted_at),
        last_used_at=as_utc(row.last_used_at),
    )


def _token(row: OidcTokenRow) -> IssuedTokenRecord:
    return IssuedTokenRecord(
        jti=row.jti,
        client_id=row.client_id,
        user_id=row.user_id,
        scope=row.scope,
        code_hash=row.code_hash,
        issued_at=as_utc(row.issued_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
    )
