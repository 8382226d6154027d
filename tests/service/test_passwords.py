from __future__ import annotations

import pytest

from faceauth.service import passwords


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "Password123!",
        "p@ssw0rd",
        "12345678",
        "qwertyuiop",
        "iloveyou2",
        "aaaaaaaaaa",
        "Dragon2024",
    ],
)
def test_common_passwords_and_their_simple_variants_are_refused(password: str) -> None:
    assert passwords.password_problem(password) is not None
    assert "common" in (passwords.password_problem(password) or "")


@pytest.mark.parametrize("password", ["correct horse battery", "Tr0ub4dor&3x", "violet-kettle-on-mars"])
def test_uncommon_passwords_are_accepted(password: str) -> None:
    assert passwords.password_problem(password) is None


def test_length_rules_follow_nist() -> None:
    assert "at least 8" in (passwords.password_problem("x7#kq2!") or "")
    assert passwords.password_problem("x7#kq2!m") is None
    passphrase = "a long passphrase of many ordinary words " * 6
    assert len(passphrase) > 128
    assert passwords.password_problem(passphrase) is None
    assert "at most" in (passwords.password_problem("z" + "q7" * 200) or "")


def test_password_must_not_be_the_username() -> None:
    assert passwords.password_problem("annabelle99", personal=("annabelle",)) is not None
    assert passwords.password_problem("annabelle rides bikes", personal=("annabelle",)) is None


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert passwords.verify_password("correct horse battery", hashed)
    assert not passwords.verify_password("correct horse batterY", hashed)


def test_unicode_passwords_are_normalised_before_hashing() -> None:
    composed = "caf\u00e9 au lait chaud"
    decomposed = "cafe\u0301 au lait chaud"
    assert passwords.verify_password(decomposed, passwords.hash_password(composed))
