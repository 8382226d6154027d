"""``faceauth compare`` and ``faceauth eval`` as a user runs them: real processes, real photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "faceauth.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.fixture(scope="module")
def cli_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


def test_compare_same_and_different_people(
    photos_by_identity: dict[str, list[Path]], cli_data_dir: Path, tmp_path: Path
) -> None:
    people = sorted(photos_by_identity.values(), key=len, reverse=True)
    photo = people[0][0]
    smaller = tmp_path / "smaller.jpg"
    with Image.open(photo) as original:
        original.convert("RGB").resize((original.width * 3 // 5, original.height * 3 // 5)).save(
            smaller, quality=80
        )

    def compare(a: Path, b: Path) -> dict[str, object]:
        result = run(["compare", str(a), str(b), "--json"], cli_data_dir)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    rescaled = compare(photo, smaller)
    assert set(rescaled) == {"similarity", "threshold", "match"}
    assert rescaled["match"] is True and rescaled["similarity"] > 0.9
    different = compare(photo, people[1][0])
    assert different["match"] is False
    assert different["similarity"] < rescaled["similarity"]  # type: ignore[operator]


def test_compare_says_what_is_wrong_with_a_bad_file(
    data_root: Path, cli_data_dir: Path, tmp_path: Path
) -> None:
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("not a picture")
    photo = data_root / "faces" / "deepface_tests" / "images" / "img1.jpg"
    result = run(["compare", str(photo), str(text_file)], cli_data_dir)
    assert result.returncode == 2
    assert "error" in result.stderr and "Traceback" not in result.stderr


def test_eval_writes_the_report_and_the_plot(data_root: Path, cli_data_dir: Path, tmp_path: Path) -> None:
    source = data_root / "faces" / "deepface_tests"
    rows = (source / "images.csv").read_text().splitlines()
    subset = tmp_path / "subset.csv"
    subset.write_text("\n".join(rows[:16]) + "\nimages/missing.jpg,nobody\n")
    out, plot = tmp_path / "report.json", tmp_path / "roc.png"
    args = [
        "eval",
        "--images-csv",
        str(subset),
        "--root",
        str(source),
        "--json",
        str(out),
        "--plot",
        str(plot),
    ]
    result = run(args, cli_data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["n_images"] == 16 and report["n_failed"] == 1
    assert report["n_genuine"] > 0 and report["n_impostor"] > 0
    assert 0.5 < report["auc"] <= 1.0
    assert set(report["tar_at_far"]) == {"0.01", "0.001", "0.0001"}
    assert plot.stat().st_size > 10_000
    assert "embedding" in result.stderr
