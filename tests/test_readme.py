"""The README documents every setting (DESIGN: every tunable is a documented setting)."""

from __future__ import annotations

from pathlib import Path

from faceauth.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"`FACEAUTH_{name.upper()}`" not in text]
    assert not missing, f"settings missing from README.md (python scripts/settings_table.py): {missing}"
