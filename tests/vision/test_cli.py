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


BOTH_MODELS = {"FACEAUTH_RECOGNITION_MODELS": '["facenet", "sface"]'}


def run(
    args: list[str], data_dir: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), **(extra_env or {})}
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
    assert {"similarity", "threshold", "match", "models", "scores"} <= set(rescaled)
    assert rescaled["match"] is True
    assert set(rescaled["scores"]) == set(rescaled["models"])  # type: ignore[arg-type]
    assert all(cosine > 0.9 for cosine in rescaled["scores"].values())  # type: ignore[attr-defined]
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
    assert f"{text_file}: not a JPEG" in result.stderr and "Traceback" not in result.stderr


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
    result = run(args, cli_data_dir, BOTH_MODELS)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["n_images"] == 16 and report["n_failed"] == 1
    assert report["n_genuine"] > 0 and report["n_impostor"] > 0
    assert 0.5 < report["auc"] <= 1.0
    assert set(report["tar_at_far"]) == {"0.01", "0.001", "0.0001"}
    assert report["tar_at_far"]["0.0001"]["tar"] is None  # far too few impostor pairs: n/a
    assert set(report["per_model"]) == set(report["models"]) == {"facenet", "sface"}
    assert plot.stat().st_size > 10_000
    assert "embedding" in result.stderr


def test_compare_on_a_missing_file_exits_2_naming_it(cli_data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-photo.jpg"
    result = run(["compare", str(missing), str(missing)], cli_data_dir)
    assert result.returncode == 2
    assert f"cannot read {missing}" in result.stderr and "Traceback" not in result.stderr


def test_compare_names_the_image_without_a_face(data_root: Path, cli_data_dir: Path) -> None:
    photo = data_root / "faces" / "deepface_tests" / "images" / "img1.jpg"
    folder = data_root / "faces" / "nonface"
    no_face = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[0]
    result = run(["compare", str(photo), str(no_face)], cli_data_dir)
    assert result.returncode == 2
    assert f"{no_face}: " in result.stderr and "face" in result.stderr and "Traceback" not in result.stderr


def test_eval_on_a_wrong_folder_says_why_and_fails(
    data_root: Path, cli_data_dir: Path, tmp_path: Path
) -> None:
    csv_file = data_root / "faces" / "deepface_tests" / "images.csv"
    result = run(["eval", "--images-csv", str(csv_file), "--root", str(tmp_path)], cli_data_dir)
    assert result.returncode == 2
    assert "no image of" in result.stderr and "wrong --root?" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_on_a_csv_without_the_columns_says_which(cli_data_dir: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,person\na.jpg,ann\n")
    result = run(["eval", "--images-csv", str(wrong)], cli_data_dir)
    assert result.returncode == 2
    assert "needs the columns path,identity" in result.stderr and "Traceback" not in result.stderr
    absent = run(["eval", "--images-csv", str(tmp_path / "absent.csv")], cli_data_dir)
    assert absent.returncode == 2 and "cannot read" in absent.stderr and "Traceback" not in absent.stderr


def test_serve_prints_a_url_a_person_can_open() -> None:
    from faceauth.cli import listening_line

    assert listening_line("127.0.0.1", 8000) == "faceauth: listening on http://127.0.0.1:8000"
    everywhere = listening_line("0.0.0.0", 8000)
    assert "http://127.0.0.1:8000 " in everywhere and "0.0.0.0:8000" in everywhere
    assert "http://[::1]:8080 " in listening_line("::", 8080)


@pytest.fixture(scope="module")
def nuaa_sessions_csv(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three NUAA subjects, two sessions each, the first 8 real frames of each in capture order."""
    import csv
    import re

    root = data_root / "spoof" / "nuaa"
    if not (root / "images.csv").is_file():
        pytest.skip("spoof/nuaa is not in the test data")
    with (root / "images.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["label"] == "real"]
    rows.sort(key=lambda r: (r["identity"], r["session"], int(re.findall(r"(\d+)\.jpg$", r["path"])[0])))
    chosen: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        chosen.setdefault((row["identity"], row["session"]), []).append(row)
    keep = [key for key in chosen if key[0] in ("subject0001", "subject0004", "subject0006")]
    sessions_by_person: dict[str, list[tuple[str, str]]] = {}
    for key in keep:
        sessions_by_person.setdefault(key[0], []).append(key)
    out = tmp_path_factory.mktemp("nuaa") / "sessions.csv"
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "identity", "session"])
        for keys in sessions_by_person.values():
            for key in keys[:2]:
                for row in chosen[key][:8]:
                    writer.writerow([str(root / row["path"]), row["identity"], row["session"]])
    return out


def test_eval_bursts_runs_the_login_protocol(
    nuaa_sessions_csv: Path, cli_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bursts.json"
    result = run(
        ["eval", "--images-csv", str(nuaa_sessions_csv), "--bursts", "8", "--json", str(out)],
        cli_data_dir,
        BOTH_MODELS,
    )
    assert result.returncode == 0, result.stderr
    bursts = json.loads(out.read_text())["bursts"]
    assert bursts["identities_enrolled"] == 3
    assert bursts["n_genuine"] == 3 and bursts["n_impostor"] == 12  # each probe burst vs the 2 others
    assert bursts["at_threshold"]["far"] == 0.0  # no stranger's burst passes
    assert 0.0 <= bursts["at_threshold"]["tar"] <= 1.0
    assert bursts["auc"] > 0.9  # same-person bursts score above strangers'
    assert bursts["tar_at_far"]["0.001"]["tar"] is None  # 12 impostor bursts cannot support 1e-3
    assert set(bursts["per_model"]) == {"facenet", "sface"}


def test_calibrate_refuses_a_target_the_captures_cannot_support(
    nuaa_sessions_csv: Path, cli_data_dir: Path
) -> None:
    args = ["calibrate", "--images-csv", str(nuaa_sessions_csv), "--bursts", "8"]
    refused = run([*args, "--target-far", "0.001"], cli_data_dir)
    assert refused.returncode == 1
    assert "needs at least 3000" in refused.stderr and "Traceback" not in refused.stderr
    accepted = run([*args, "--target-far", "0.3"], cli_data_dir)
    assert accepted.returncode == 0, accepted.stderr
    report = json.loads(accepted.stdout)
    assert report["supported"] and report["recommended"]["far"] <= 0.3
    assert "FACEAUTH_MATCH_THRESHOLD=" in accepted.stderr
