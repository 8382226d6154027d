"""Password rules (NIST SP 800-63B) and hashing (argon2id via pwdlib).

Rules: at least 8 characters, up to 256 (long passphrases welcome), no composition rules, and the
most common passwords refused. Unknown users are checked against a dummy hash, so a failed login
takes about as long whether or not the account exists."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 8
MAX_LENGTH = 256
COMMON_PASSWORDS_FILE = "common_passwords.txt"  # package data beside this module


def _read_common_passwords() -> frozenset[str]:
    """The list shipped in ``common_passwords.txt``: one password a line, ``#`` starts a comment."""
    text = resources.files("faceauth.service").joinpath(COMMON_PASSWORDS_FILE).read_text(encoding="utf-8")
    words = (line.strip() for line in text.splitlines())
    return frozenset(word for word in words if word and not word.startswith("#"))


_COMMON = _read_common_passwords()
_SUBSTITUTIONS = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s"}
)
_TRAILING = re.compile(r"[\d\W_]+$")
_LEADING = re.compile(r"^[\d\W_]+")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))  # argon2id with the library's recommended costs


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("faceauth-dummy-password-for-unknown-users")


def normalise(password: str) -> str:
    """NFKC, as NIST asks, so the same passphrase typed on different keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _hasher().hash(normalise(password))


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher().verify(normalise(password), password_hash)


def warm_up() -> None:
    """Compute the dummy hash now, so the first login of an unknown user is not the slow one."""
    _dummy_hash()


def verify_dummy(password: str) -> None:
    """Spend the time of one verification, for a login whose user does not exist."""
    _hasher().verify(normalise(password), _dummy_hash())


def is_common(password: str) -> bool:
    """True for a listed password and for simple variants of one: case, a number or symbols
    before or after, letter-for-digit substitutions ("P@ssw0rd1!"), or one repeated character."""
    lowered = normalise(password).lower()
    if len(set(lowered)) <= 2:
        return True
    candidates = {lowered, _TRAILING.sub("", lowered), _LEADING.sub("", lowered)}
    candidates |= {_LEADING.sub("", _TRAILING.sub("", c)) for c in candidates}
    candidates |= {c.translate(_SUBSTITUTIONS) for c in set(candidates) | {lowered}}
    candidates |= {_TRAILING.sub("", c) for c in set(candidates)}
    return any(candidate in _COMMON for candidate in candidates if candidate)


def password_problem(password: str, personal: tuple[str, ...] = ()) -> str | None:
    """The reason ``password`` is refused, or None. ``personal``: the username and the like,
    which the password must not simply be."""
    length = len(normalise(password))
    if length < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if length > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if is_common(password):
        return "is too common: choose a less guessable password (a passphrase of several words works well)"
    lowered = normalise(password).lower()
    for word in personal:
        if word and len(word) >= 3 and _TRAILING.sub("", lowered) == word.lower():
            return "must not be your username or email"
    return None
