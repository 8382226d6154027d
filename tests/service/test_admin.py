"""The operator's account actions on a real database (SQLite, and PostgreSQL when configured):
listing, lock-outs lifted, disabled accounts refused at login and with their tokens, deletion and
face reset, each in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from faceauth.config import Settings
from faceauth.domain import AccountDisabled, AccountLocked, InvalidCredentials, InvalidToken
from faceauth.service.accounts import AccountService, Registration
from faceauth.service.admin import AdminService, UnknownUser, detail_json, summary_json
from faceauth.service.lockout import FACE_STEP, LockoutService
from faceauth.service.tokens import Stage, TokenService
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.admin import SqlAdminStore
from faceauth.storage.sql.backend import SqlStorage

PASSWORD = "umbrella lantern oboe"


def register(accounts: AccountService, username: str) -> int:
    form = Registration(
        username.title(), username, f"{username}@example.org", "+12025550143", PASSWORD, PASSWORD
    )
    return accounts.register(form).id


@pytest.fixture
def admin(storage: SqlStorage) -> AdminService:
    return AdminService(storage, SqlAdminStore(storage.database), actor="cli:tester")


def kinds(storage: SqlStorage) -> list[tuple[str, int | None, str | None]]:
    return [
        (e.kind, e.user_id, e.detail) for e in storage.list_events(limit=50) if e.kind.startswith("admin_")
    ]


def test_list_and_show_say_who_is_enrolled_disabled_and_locked(
    storage: SqlStorage, settings: Settings, lockouts: LockoutService, admin: AdminService
) -> None:
    accounts = AccountService(storage, settings, lockouts)
    ann, bob = register(accounts, "ann"), register(accounts, "bob")
    storage.save_template(ann, b"ciphertext", "k1", 8)
    for _ in range(settings.face_lockout_max_failures):
        lockouts.fail(lockouts.begin(FACE_STEP, lockouts.face_rules(bob)))
    admin.disable("ann@example.org")

    summaries = {s.user.username: summary_json(s) for s in admin.list_users()}
    assert (summaries["ann"]["face_enrolled"], summaries["ann"]["disabled"], summaries["ann"]["locked"]) == (
        True,
        True,
        False,
    )
    assert (summaries["bob"]["face_enrolled"], summaries["bob"]["disabled"], summaries["bob"]["locked"]) == (
        False,
        False,
        True,
    )
    assert all("password_hash" not in s and PASSWORD not in str(s) for s in summaries.values())
    shown = detail_json(admin.show("bob"))
    assert [lock["key"] for lock in shown["lockouts"]] == [f"face:user:{bob}"]  # type: ignore[index]
    with pytest.raises(UnknownUser):
        admin.show("nobody")


def test_unlock_lifts_face_and_password_lockouts_of_that_account_only(
    storage: SqlStorage, settings: Settings, lockouts: LockoutService, admin: AdminService
) -> None:
    accounts = AccountService(storage, settings, lockouts)
    user_1 = register(accounts, "user1")
    # Another account whose id starts with the same digits (1 and 12): its keys must not match.
    fillers = [
        storage.create_user(
            name="F",
            username=f"filler{n}",
            email=f"f{n}@example.org",
            phone="+12025550143",
            password_hash="h",
        ).id
        for n in range(11)
    ]
    user_12 = next(i for i in fillers if str(i).startswith(str(user_1)) and i != user_1)
    abuse = SqlAbuseStore(storage.database)
    until = datetime.now(UTC) + timedelta(minutes=30)
    keys = {
        user_1: [f"face:user:{user_1}", f"password:user:{user_1}", f"password:user:{user_1}|203.0.113.9"],
        user_12: [f"face:user:{user_12}", f"password:user:{user_12}|198.51.100.1"],
    }
    for user_keys in keys.values():
        for key in user_keys:
            abuse.lock(key, until)
            abuse.add_failure(key, datetime.now(UTC))
    with pytest.raises(AccountLocked):
        accounts.authenticate("user1", PASSWORD, client="203.0.113.9")

    assert admin.unlock("user1") == 3
    assert accounts.authenticate("user1", PASSWORD, client="203.0.113.9").id == user_1
    now = datetime.now(UTC)
    assert abuse.locked_until(keys[user_1], now) is None
    assert abuse.locked_until(keys[user_12], now) is not None  # the other account keeps its lock-outs
    assert abuse.count_failures(keys[user_12][0], now - timedelta(hours=1)) == 1
    assert kinds(storage)[0] == ("admin_unlock", user_1, "by cli:tester: 3 lock-outs lifted")


def test_a_disabled_account_cannot_log_in_and_its_tokens_stop_working(
    storage: SqlStorage, settings: Settings, lockouts: LockoutService, admin: AdminService
) -> None:
    accounts = AccountService(storage, settings, lockouts)
    tokens = TokenService("k" * 64, storage, settings)
    ann = register(accounts, "ann")
    issued = tokens.issue(ann, Stage.FULL)
    assert admin.disable("ann") is True
    assert admin.disable("ann") is False  # already

    with pytest.raises(AccountDisabled) as disabled:
        accounts.authenticate("ann", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong:
        accounts.authenticate("ann", "not the password at all")
    assert str(disabled.value) == str(wrong.value)  # the same words as a wrong password
    user = storage.get_user(ann)
    assert user is not None and user.disabled
    with pytest.raises(InvalidToken, match="disabled"):
        tokens.check_subject(tokens.decode(issued.token), user)

    assert admin.enable("ann") is True and admin.enable("ann") is False
    assert accounts.authenticate("ann", PASSWORD).id == ann
    assert [k for k, _, _ in kinds(storage)] == ["admin_enable", "admin_disable"]
    login_events = [e for e in storage.list_events(user_id=ann) if e.kind == "login_password"]
    assert [(e.success, e.detail) for e in login_events] == [(True, None), (False, None), (False, "disabled")]


def test_delete_and_face_reset(
    storage: SqlStorage, settings: Settings, lockouts: LockoutService, admin: AdminService
) -> None:
    accounts = AccountService(storage, settings, lockouts)
    ann, bob = register(accounts, "ann"), register(accounts, "bob")
    storage.save_template(ann, b"ciphertext", "k1", 8)
    storage.save_template(bob, b"ciphertext", "k1", 8)

    assert admin.reset_face("ann") is True
    assert admin.reset_face("ann") is False
    assert not storage.has_template(ann) and storage.get_user(ann) is not None

    assert admin.delete("bob").id == bob
    assert storage.get_user(bob) is None and not storage.has_template(bob)
    with pytest.raises(UnknownUser):
        admin.delete("bob")
    assert kinds(storage)[:3] == [
        ("admin_delete_account", None, "by cli:tester"),  # nothing links the deletion to the person
        ("admin_face_reset", ann, "by cli:tester: no template"),
        ("admin_face_reset", ann, "by cli:tester"),
    ]
