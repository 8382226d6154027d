"""The operator's account commands (``faceauth users ...``, ``faceauth face reset``), each audited.

Every change is recorded in the audit log with the kind ``admin_<action>`` and, as its detail, who
ran it (``cli:<operating-system user>``). A deleted account's event carries no user id, as a deletion
by the owner does: nothing links it to the person any more."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from faceauth.domain import NotFound, User
from faceauth.service.lockout import account_keys
from faceauth.storage.interface import AdminStore, StorageBackend

logger = logging.getLogger(__name__)


class UnknownUser(NotFound):
    def __init__(self, login: str) -> None:
        super().__init__(f"no user {login!r} (give a username or an email address)")


@dataclass(frozen=True)
class UserSummary:
    user: User
    face_enrolled: bool
    locked: bool  # a lock-out of this account is in force


@dataclass(frozen=True)
class UserDetail:
    summary: UserSummary
    template_created_at: datetime | None
    template_updated_at: datetime | None
    apps: int
    lockouts: list[tuple[str, datetime]]  # key, locked until


def summary_json(summary: UserSummary) -> dict[str, object]:
    """What ``users list --json`` prints for one account: never the password hash."""
    user = summary.user
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "created_at": user.created_at.isoformat(),
        "disabled": user.disabled,
        "disabled_at": user.disabled_at.isoformat() if user.disabled_at else None,
        "face_enrolled": summary.face_enrolled,
        "locked": summary.locked,
    }


def detail_json(detail: UserDetail) -> dict[str, object]:
    return {
        **summary_json(detail.summary),
        "phone": detail.summary.user.phone,
        "template_created_at": detail.template_created_at.isoformat() if detail.template_created_at else None,
        "template_updated_at": detail.template_updated_at.isoformat() if detail.template_updated_at else None,
        "apps": detail.apps,
        "lockouts": [{"key": key, "locked_until": until.isoformat()} for key, until in detail.lockouts],
    }


class AdminService:
    def __init__(self, storage: StorageBackend, admin: AdminStore, actor: str) -> None:
        self.storage = storage
        self.admin = admin
        self.actor = actor  # who runs the command, for the audit log

    def find(self, login: str) -> User:
        user = self.storage.find_user_by_login(login) if login.strip() else None
        if user is None:
            raise UnknownUser(login)
        return user

    def list_users(self, now: datetime | None = None) -> list[UserSummary]:
        now = now or datetime.now(UTC)
        return [self._summary(user, now) for user in self.admin.list_users()]

    def show(self, login: str, now: datetime | None = None) -> UserDetail:
        now = now or datetime.now(UTC)
        user = self.find(login)
        template = self.storage.get_template(user.id)
        return UserDetail(
            summary=self._summary(user, now),
            template_created_at=template.created_at if template else None,
            template_updated_at=template.updated_at if template else None,
            apps=len(self.storage.list_apps(user.id)),
            lockouts=self._lockouts(user, now),
        )

    def unlock(self, login: str) -> int:
        """Lifts every lock-out of the account and forgets its counted failures."""
        user = self.find(login)
        keys = account_keys(user.id)
        lifted = self.admin.clear_lockouts(keys.exact, keys.prefixes)
        self._audit("admin_unlock", user.id, f"{lifted} lock-outs lifted")
        return lifted

    def disable(self, login: str, now: datetime | None = None) -> bool:
        """False when it was disabled already. Its tokens stop working at once (TokenService)."""
        user = self.find(login)
        if user.disabled:
            return False
        self.admin.set_disabled(user.id, now or datetime.now(UTC))
        self._audit("admin_disable", user.id)
        return True

    def enable(self, login: str) -> bool:
        """False when it was not disabled."""
        user = self.find(login)
        if not user.disabled:
            return False
        self.admin.set_disabled(user.id, None)
        self._audit("admin_enable", user.id)
        return True

    def delete(self, login: str) -> User:
        """Deletes the account with its template and apps (``StorageBackend.delete_user``)."""
        user = self.find(login)
        deleted = self.storage.delete_user(user.id)
        if not deleted:  # deleted by someone else meanwhile
            raise UnknownUser(login)
        self._audit("admin_delete_account", None)
        return user

    def reset_face(self, login: str) -> bool:
        """Deletes the account's face template (the owner enrolls again at the next login); False
        when there was none."""
        user = self.find(login)
        deleted = self.storage.delete_template(user.id)
        self._audit("admin_face_reset", user.id, None if deleted else "no template")
        return deleted

    def _summary(self, user: User, now: datetime) -> UserSummary:
        return UserSummary(
            user=user,
            face_enrolled=self.storage.has_template(user.id),
            locked=bool(self._lockouts(user, now)),
        )

    def _lockouts(self, user: User, now: datetime) -> list[tuple[str, datetime]]:
        keys = account_keys(user.id)
        return self.admin.lockouts_in_force(keys.exact, keys.prefixes, now)

    def _audit(self, kind: str, user_id: int | None, note: str | None = None) -> None:
        detail = f"by {self.actor}" + (f": {note}" if note else "")
        self.storage.record_event(kind, success=True, user_id=user_id, detail=detail[:500])
        logger.info("%s of user %s %s", kind, user_id if user_id is not None else "(deleted)", detail)
