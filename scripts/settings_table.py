"""Print the README's settings table from the Settings class: name, default, and the comment
beside (or above) each field in config.py. Usage: python scripts/settings_table.py"""

from __future__ import annotations

import ast
import inspect

from faceauth import config


def comments() -> dict[str, str]:
    source = inspect.getsource(config.Settings)
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        line = lines[node.lineno - 1]
        text = line.split("#", 1)[1].strip() if "#" in line else ""
        above = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#") and "---" not in lines[index]:
            above.insert(0, lines[index].strip().lstrip("#").strip())
            index -= 1
        found[node.target.id] = " ".join([*above, text]).strip()
    return found


def main() -> None:
    notes = comments()
    print("| variable | default | meaning |")
    print("|---|---|---|")
    for name, field in config.Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "generated" if name in {"secret_key", "template_key"} else default
        if name == "data_dir":
            shown = "~/.local/share/faceauth"
        print(f"| `FACEAUTH_{name.upper()}` | `{shown}` | {notes.get(name, '').replace('|', '/')} |")


if __name__ == "__main__":
    main()
