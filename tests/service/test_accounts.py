from __future__ import annotations

import pytest

from faceauth.config import Settings
from faceauth.domain import EmailTaken, InvalidCredentials, UsernameTaken, ValidationFailed
from faceauth.service.accounts import AccountService, Registration, validate_phone
from faceauth.service.lockout import LockoutService
from faceauth.storage.sql.backend import SqlStorage

PASSWORD = "violet kettle on mars"


def registration(**changes: str) -> Registration:
    values = {
        "name": "Ann Example",
        "username": "ann",
        "email": "Ann.Example@Example.ORG",
        "phone": "(202) 555-0143",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    values.update(changes)
    return Registration(**values)


@pytest.fixture
def accounts(storage: SqlStorage, settings: Settings, lockouts: LockoutService) -> AccountService:
    return AccountService(storage, settings, lockouts)


def test_registration_normalises_email_and_phone(accounts: AccountService) -> None:
    user = accounts.register(registration())
    assert user.email == "ann.example@example.org"
    assert user.phone == "+12025550143"
    assert user.password_hash.startswith("$argon2id$")


def test_every_bad_field_gets_its_own_message(accounts: AccountService, storage: SqlStorage) -> None:
    bad = registration(
        name="  ",
        username="A!",
        email="not-an-email",
        phone="12",
        password="password1",
        password_confirm="something else",
    )
    with pytest.raises(ValidationFailed) as failure:
        accounts.register(bad)
    assert set(failure.value.errors) == {"name", "username", "email", "phone", "password", "password_confirm"}
    assert failure.value.errors["name"] == "is required"
    assert "common" in failure.value.errors["password"]
    assert storage.count_users() == 0


@pytest.mark.parametrize("username", ["ab", "a" * 33, "has space", "ünïcode", "semi;colon"])
def test_username_rules(accounts: AccountService, username: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        accounts.register(registration(username=username))
    assert set(failure.value.errors) == {"username"}


def test_username_is_lower_cased(accounts: AccountService) -> None:
    assert accounts.register(registration(username="Ann.Smith-2_x")).username == "ann.smith-2_x"


def test_phone_numbers_use_the_default_region_or_their_prefix() -> None:
    assert validate_phone("+44 20 7946 0958", "US") == "+442079460958"
    assert validate_phone("020 7946 0958", "GB") == "+442079460958"
    with pytest.raises(ValueError):
        validate_phone("+1 555", "US")


def test_username_and_email_are_unique_ignoring_case(accounts: AccountService) -> None:
    accounts.register(registration())
    with pytest.raises(UsernameTaken):
        accounts.register(registration(username="ANN", email="other@example.org"))
    with pytest.raises(EmailTaken):
        accounts.register(registration(username="other", email="ANN.EXAMPLE@example.org"))


def test_login_by_username_or_email(accounts: AccountService) -> None:
    user = accounts.register(registration())
    assert accounts.authenticate("ann", PASSWORD) == user
    assert accounts.authenticate("ANN.example@example.org", PASSWORD) == user


def test_unknown_user_and_wrong_password_fail_alike(accounts: AccountService, storage: SqlStorage) -> None:
    user = accounts.register(registration())
    with pytest.raises(InvalidCredentials) as unknown:
        accounts.authenticate("nobody", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong:
        accounts.authenticate("ann", PASSWORD + "!")
    assert str(unknown.value) == str(wrong.value)
    kinds = [(e.kind, e.success, e.user_id) for e in storage.list_events()]
    assert kinds[:2] == [("login_password", False, user.id), ("login_password", False, None)]


def test_deleting_an_account(accounts: AccountService) -> None:
    user = accounts.register(registration())
    assert accounts.delete(user.id) is True
    assert accounts.get(user.id) is None
    with pytest.raises(InvalidCredentials):
        accounts.authenticate("ann", PASSWORD)
