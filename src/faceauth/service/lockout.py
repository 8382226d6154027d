"""Lock-outs after repeated failed authentication attempts (docs/security.md).

An attempt is recorded *before* it is judged (``begin``) and counted as a failure unless it
succeeds (``succeed``) or turns out not to be a real try (``abandon``: too few usable frames, an
error). Because the record is committed before the count is taken, concurrent attempts from any
number of worker processes see each other: at most ``max_failures`` attempts can be in the window,
however many arrive at once. The attempt that reaches ``max_failures`` failures locks the key for
``lock_seconds``.

Keys: ``face:user:<id>`` (the face step, per account); ``password:<subject>|<client>`` (per account
and client address) and ``password:<subject>`` (per account, a higher threshold). The subject of a
login that matches no account is a hash of the login, so an unknown login is locked exactly like a
real one and a 423 does not reveal whether the account exists."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faceauth.config import Settings
from faceauth.domain import AccountLocked
from faceauth.storage.interface import AbuseStore

logger = logging.getLogger(__name__)

FACE_STEP = "face verification"
PASSWORD_STEP = "login"


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int
    window: timedelta
    lock: timedelta


@dataclass(frozen=True)
class Rule:
    """One key counted under one policy."""

    key: str
    policy: LockoutPolicy


@dataclass(frozen=True)
class Attempt:
    """An attempt in progress: its step, its rules and the ids of its failure records."""

    step: str
    rules: tuple[Rule, ...]
    record_ids: tuple[int, ...]


def face_key(user_id: int) -> str:
    return f"face:user:{user_id}"


def password_subject(user_id: int | None, login: str) -> str:
    """``user:<id>`` for an account; for a login that matches none, a hash of the normalised login."""
    if user_id is not None:
        return f"user:{user_id}"
    digest = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:40]
    return f"login:{digest}"


class LockoutService:
    def __init__(self, store: AbuseStore, settings: Settings) -> None:
        self.store = store
        self.face_policy = LockoutPolicy(
            settings.face_lockout_max_failures,
            timedelta(seconds=settings.face_lockout_window_seconds),
            timedelta(seconds=settings.face_lockout_seconds),
        )
        self.password_client_policy = LockoutPolicy(
            settings.password_lockout_max_failures,
            timedelta(seconds=settings.password_lockout_window_seconds),
            timedelta(seconds=settings.password_lockout_seconds),
        )
        self.password_account_policy = LockoutPolicy(
            settings.password_account_lockout_max_failures,
            timedelta(seconds=settings.password_account_lockout_window_seconds),
            timedelta(seconds=settings.password_account_lockout_seconds),
        )

    # --- the rules of each step -------------------------------------------------------------

    def face_rules(self, user_id: int) -> tuple[Rule, ...]:
        return (Rule(face_key(user_id), self.face_policy),)

    def password_rules(self, subject: str, client: str | None) -> tuple[Rule, ...]:
        return (
            Rule(f"password:{subject}|{client or 'unknown'}", self.password_client_policy),
            Rule(f"password:{subject}", self.password_account_policy),
        )

    # --- attempts ---------------------------------------------------------------------------

    def check(self, step: str, rules: Sequence[Rule], now: datetime | None = None) -> None:
        """Raises AccountLocked when any of the rules' keys is locked."""
        now = now or datetime.now(UTC)
        until = self.store.locked_until([rule.key for rule in rules], now)
        if until is not None:
            raise AccountLocked(step, _seconds_until(until, now))

    def begin(self, step: str, rules: Sequence[Rule], now: datetime | None = None) -> Attempt:
        """Records an attempt, or raises AccountLocked when a key is locked or its window is full."""
        now = now or datetime.now(UTC)
        self.check(step, rules, now)
        ids = tuple(self.store.add_failure(rule.key, now) for rule in rules)
        for rule in rules:
            count = self.store.count_failures(rule.key, now - rule.policy.window)
            if count > rule.policy.max_failures:  # other attempts running right now filled the window
                self.store.remove_failures(ids)
                self._lock(step, rule, now)
                raise AccountLocked(step, int(rule.policy.lock.total_seconds()))
        return Attempt(step, tuple(rules), ids)

    def succeed(self, attempt: Attempt, clear: Sequence[str] = ()) -> None:
        """The attempt succeeded: it is no failure, and the failures under ``clear`` are forgotten."""
        self.store.remove_failures(attempt.record_ids)
        for key in clear:
            self.store.clear_failures(key)

    def abandon(self, attempt: Attempt) -> None:
        """The attempt was not a real try (unusable input, an error): it does not count."""
        self.store.remove_failures(attempt.record_ids)

    def fail(self, attempt: Attempt, now: datetime | None = None) -> None:
        """The attempt failed: it stays counted, and locks every key whose window is now full."""
        now = now or datetime.now(UTC)
        for rule in attempt.rules:
            if self.store.count_failures(rule.key, now - rule.policy.window) >= rule.policy.max_failures:
                self._lock(attempt.step, rule, now)

    def _lock(self, step: str, rule: Rule, now: datetime) -> None:
        self.store.lock(rule.key, now + rule.policy.lock)
        logger.warning(
            "%s locked for %d s after %d failures: %s",
            step,
            rule.policy.lock.total_seconds(),
            rule.policy.max_failures,
            rule.key,
        )


def _seconds_until(until: datetime, now: datetime) -> int:
    return max(1, int(-(-(until - now).total_seconds() // 1)))
