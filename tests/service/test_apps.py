from __future__ import annotations

import pytest

from faceauth.domain import NotFound, ValidationFailed
from faceauth.service.apps import AppService
from faceauth.storage.sql.backend import SqlStorage


@pytest.fixture
def apps(storage: SqlStorage) -> AppService:
    return AppService(storage)


def new_user(storage: SqlStorage, username: str) -> int:
    return storage.create_user(
        name=username,
        username=username,
        email=f"{username}@example.org",
        phone="+12025550143",
        password_hash="h",
    ).id


def test_add_list_and_remove(apps: AppService, storage: SqlStorage) -> None:
    ann = new_user(storage, "ann")
    mail = apps.add(ann, "  Mail  ", "https://mail.example.org/inbox", "  work mail ")
    assert (mail.name, mail.url, mail.description) == ("Mail", "https://mail.example.org/inbox", "work mail")
    notes = apps.add(ann, "Notes")
    assert (notes.url, notes.description) == (None, None)
    assert apps.list(ann) == [mail, notes]
    apps.remove(ann, mail.id)
    assert apps.list(ann) == [notes]


def test_someone_elses_app_is_not_found(apps: AppService, storage: SqlStorage) -> None:
    ann = new_user(storage, "ann")
    bob = new_user(storage, "bob")
    mail = apps.add(ann, "Mail")
    with pytest.raises(NotFound):
        apps.remove(bob, mail.id)
    with pytest.raises(NotFound):
        apps.get(bob, mail.id)
    assert apps.list(ann) == [mail]


@pytest.mark.parametrize(
    ("name", "url", "field"),
    [
        ("", None, "name"),
        ("x" * 101, None, "name"),
        ("Evil", "javascript:alert(1)", "url"),
        ("Bad", "mail", "url"),
    ],
)
def test_invalid_apps_are_refused(
    apps: AppService, storage: SqlStorage, name: str, url: str | None, field: str
) -> None:
    ann = new_user(storage, "ann")
    with pytest.raises(ValidationFailed) as failure:
        apps.add(ann, name, url)
    assert set(failure.value.errors) == {field}
    assert apps.list(ann) == []
