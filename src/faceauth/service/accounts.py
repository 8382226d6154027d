"""Accounts: registration with per-field validation, password login, account deletion."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from faceauth.config import Settings
from faceauth.domain import (
    AccountLocked,
    EmailTaken,
    InvalidCredentials,
    User,
    UsernameTaken,
    ValidationFailed,
)
from faceauth.service import passwords
from faceauth.service.lockout import PASSWORD_STEP, LockoutService, password_subject
from faceauth.storage.interface import StorageBackend

logger = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[a-z0-9_.-]{3,32}$")
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Registration:
    name: str
    username: str
    email: str
    phone: str
    password: str
    password_confirm: str

    def __repr__(self) -> str:
        return f"Registration(username={self.username!r}, email={self.email!r})"


@dataclass(frozen=True)
class CleanRegistration:
    name: str
    username: str
    email: str
    phone: str


def validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValueError("is required")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
    return name


def validate_username(username: str) -> str:
    username = username.strip().lower()
    if not username:
        raise ValueError("is required")
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValueError("must be 3-32 characters: lower-case letters, digits, '_', '.' or '-'")
    return username


def validate_email_address(email: str) -> str:
    """The normalised address, lower-cased so that uniqueness ignores case."""
    if not email.strip():
        raise ValueError("is required")
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from error
    return result.normalized.lower()


def validate_phone(phone: str, default_region: str) -> str:
    """The number in E.164 (``+15551234567``); numbers without ``+`` are read in ``default_region``."""
    if not phone.strip():
        raise ValueError("is required")
    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException as error:
        raise ValueError("is not a phone number") from error
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number (include the country code, e.g. +44)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_registration(form: Registration, default_region: str) -> CleanRegistration:
    """Checks every field and raises ValidationFailed with one message per bad field."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    checks: dict[str, Callable[[], str]] = {
        "name": lambda: validate_name(form.name),
        "username": lambda: validate_username(form.username),
        "email": lambda: validate_email_address(form.email),
        "phone": lambda: validate_phone(form.phone, default_region),
    }
    for field_name, check in checks.items():
        try:
            clean[field_name] = check()
        except ValueError as error:
            errors[field_name] = str(error)
    personal = (clean.get("username", ""), clean.get("email", "").split("@")[0])
    problem = passwords.password_problem(form.password, personal)
    if problem:
        errors["password"] = problem
    if form.password != form.password_confirm:
        errors["password_confirm"] = "does not match the password"
    if errors:
        raise ValidationFailed(errors)
    return CleanRegistration(**clean)


class AccountService:
    def __init__(self, storage: StorageBackend, settings: Settings, lockouts: LockoutService) -> None:
        self.storage = storage
        self.settings = settings
        # Wrong passwords lock the password step (docs/security.md); the state is in the database.
        self.lockouts = lockouts
        passwords.warm_up()

    def register(self, form: Registration, client: str | None = None) -> User:
        """Raises ValidationFailed (per field), UsernameTaken or EmailTaken."""
        clean = validate_registration(form, self.settings.phone_default_region)
        try:
            user = self.storage.create_user(
                name=clean.name,
                username=clean.username,
                email=clean.email,
                phone=clean.phone,
                password_hash=passwords.hash_password(form.password),
            )
        except (UsernameTaken, EmailTaken) as error:
            detail = "username taken" if isinstance(error, UsernameTaken) else "email taken"
            self.storage.record_event("register", success=False, client=client, detail=detail)
            raise
        self.storage.record_event("register", success=True, user_id=user.id, client=client)
        logger.info("registered user %d", user.id)
        return user

    def authenticate(self, login: str, password: str, client: str | None = None) -> User:
        """The user whose username or email is ``login``; raises InvalidCredentials for an unknown
        login and a wrong password alike, after about the same time, and AccountLocked (for both
        alike, too) after too many failures (``service.lockout``)."""
        user = self.storage.find_user_by_login(login) if login.strip() else None
        user_id = user.id if user is not None else None
        rules = self.lockouts.password_rules(password_subject(user_id, login), client)
        try:
            attempt = self.lockouts.begin(PASSWORD_STEP, rules)
        except AccountLocked:
            self.storage.record_event(
                "login_password", success=False, user_id=user_id, client=client, detail="locked"
            )
            raise
        try:
            if user is None:
                passwords.verify_dummy(password)
                valid = False
            else:
                valid = passwords.verify_password(password, user.password_hash)
        except BaseException:
            self.lockouts.abandon(attempt)
            raise
        if user is None or not valid:
            self.lockouts.fail(attempt)
            detail = "unknown login" if user is None else None
            self.storage.record_event(
                "login_password", success=False, user_id=user_id, client=client, detail=detail
            )
            raise InvalidCredentials()
        self.lockouts.succeed(attempt, clear=[rules[0].key])  # this address's failures, not the account's
        self.storage.record_event("login_password", success=True, user_id=user.id, client=client)
        return user

    def get(self, user_id: int) -> User | None:
        return self.storage.get_user(user_id)

    def face_enrolled(self, user_id: int) -> bool:
        return self.storage.has_template(user_id)

    def delete(self, user_id: int, client: str | None = None) -> bool:
        """Deletes the account with its face template and apps; its audit events lose the user id
        and client address. The deletion itself is recorded with neither: nothing links it to the
        person any more (and SQLite may give the id to a new account)."""
        deleted = self.storage.delete_user(user_id)
        self.storage.record_event("delete_account", success=deleted, client=None if deleted else client)
        return deleted
