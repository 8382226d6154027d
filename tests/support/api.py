"""JSON API client steps shared by the web tests (fast ones on ``TestClient``, end-to-end ones on
``httpx.Client`` against a real server: TestClient is an httpx.Client)."""

from __future__ import annotations

import base64
import itertools
import os
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "violet kettle on mars"
BURST = 8


@dataclass(frozen=True)
class Cast:
    """Photos for the story: the genuine person's enrollment and login photos, and two impostors."""

    genuine: str
    enroll: list[bytes]
    login: list[bytes]
    impostors: dict[str, list[bytes]]


def burst(photos: list[bytes], size: int = BURST) -> list[bytes]:
    return list(itertools.islice(itertools.cycle(photos), size))


def b64(frames: list[bytes]) -> list[str]:
    return [base64.b64encode(frame).decode() for frame in frames]


_numbers = itertools.count(1)


@dataclass
class Account:
    id: int
    username: str
    email: str


def register(client: httpx.Client, prefix: str = "user") -> Account:
    username = f"{prefix}{next(_numbers)}_{os.getpid()}"
    body = {
        "name": f"{prefix.title()} Example",
        "username": username,
        "email": f"{username}@Example.org",
        "phone": "+1 202 555 0143",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["username"] == username
    assert created["email"] == f"{username}@example.org"
    return Account(created["id"], username, created["email"])


def login(client: httpx.Client, account: Account) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"login": account.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enroll(client: httpx.Client, token: str, frames: list[bytes], **params: str) -> httpx.Response:
    return client.post(
        "/api/v1/face/enroll", json={"frames": b64(frames)}, headers=bearer(token), params=params
    )


def verify(client: httpx.Client, token: str, frames: list[bytes]) -> httpx.Response:
    return client.post("/api/v1/face/verify", json={"frames": b64(frames)}, headers=bearer(token))
