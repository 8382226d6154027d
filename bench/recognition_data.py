"""Embeddings of the shared face sets by every recognition model, cached for bench/recognition.py.

Stills (photos, LFW crops) are embedded as ``faceauth eval`` embeds them (largest face, the stills
detector: smaller minimum face and an upscaled retry; no gates). NUAA's real frames (label real,
sorted by frame number within each session) are gated and embedded as login frames are, through
``faceauth.burst_evaluation.embed_frames``.

Usage: python bench/recognition_data.py [--sets SET ...]   (cache: $TMPDIR/faceauth-bench/recognition)"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_root
from faceauth import evaluation
from faceauth.burst_evaluation import SessionFrame, embed_frames
from faceauth.config import Settings
from faceauth.domain import FaceAuthError
from faceauth.vision.engine import FaceEngine
from faceauth.vision.recognition import Recognition

CACHE = Path(tempfile.gettempdir()) / "faceauth-bench" / "recognition"
MODELS = ("facenet", "sface")
NOT_A_PERSON = {"MULTI_FACE", "UNKNOWN_32bit_png_test", "NO_FACE"}
STILL_SETS = (
    "faces/lfw_5590_subset",
    "faces/deepface_tests",
    "faces/face_recognition_examples",
    "faces/lfw_small_bin",
    "faces/facenet_pytorch_test_images",
)
NUAA = "spoof/nuaa"


def nuaa_real_frames() -> list[SessionFrame]:
    """NUAA's real frames, each session's in capture order (the frame number ends the file name)."""
    root = data_root() / NUAA
    with (root / "images.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["label"] == "real"]

    def frame_number(row: dict[str, str]) -> int:
        match = re.search(r"_(\d+)\.\w+$", row["path"])
        return int(match.group(1)) if match else 0

    rows.sort(key=lambda row: (row["identity"], row["session"], frame_number(row)))
    return [SessionFrame(root / row["path"], row["identity"], row["session"]) for row in rows]


def cache_path(name: str, shard: tuple[int, int] | None = None) -> Path:
    suffix = f".shard{shard[0]}of{shard[1]}" if shard else ""
    return CACHE / (name.replace("/", "__") + suffix + ".npz")


def load_cache(name: str) -> dict[str, np.ndarray]:
    """A set's cached arrays; a set embedded in shards (``--shard``) is put back together."""
    whole = cache_path(name)
    if whole.is_file():
        return dict(np.load(whole))
    parts = sorted(CACHE.glob(whole.stem + ".shard*of*.npz"))
    if not parts:
        raise FileNotFoundError(f"{name} is not embedded yet: python bench/recognition_data.py --sets {name}")
    loaded = [dict(np.load(part)) for part in parts]
    return {
        key: (
            np.concatenate([part[key] for part in loaded])
            if loaded[0][key].ndim
            else np.sum([part[key] for part in loaded])
        )
        for key in loaded[0]
    }


def embed_stills(name: str, recognition: Recognition, shard: tuple[int, int] | None = None) -> None:
    images = [
        image
        for image in evaluation.read_images_csv(data_root() / name / "images.csv")
        if image.identity not in NOT_A_PERSON
    ]
    if shard:
        images = images[shard[0] :: shard[1]]
    found = np.zeros(len(images), dtype=bool)
    vectors = {
        embedder.name: np.zeros((len(images), embedder.dim), np.float32) for embedder in recognition.embedders
    }
    started = time.perf_counter()
    for index, image in enumerate(images):
        try:
            embeddings = recognition.embed_still(image.path.read_bytes())
        except (FaceAuthError, OSError):
            continue
        found[index] = True
        for model, vector in embeddings.items():
            vectors[model][index] = vector
    seconds = time.perf_counter() - started
    np.savez(
        cache_path(name, shard),
        identities=np.asarray([image.identity for image in images]),
        paths=np.asarray([str(image.path) for image in images]),
        found=found,
        seconds=seconds,
        **{f"emb_{model}": array for model, array in vectors.items()},
    )
    print(f"{name}: {found.sum()}/{len(images)} faces, {seconds:.0f} s", file=sys.stderr)


def embed_nuaa(recognition: Recognition) -> None:
    frames = nuaa_real_frames()
    table = embed_frames(frames, recognition)
    np.savez(
        cache_path(NUAA),
        identities=np.asarray(table.identities),
        sessions=np.asarray(table.sessions),
        paths=np.asarray([str(frame.path) for frame in frames]),
        usable=table.usable,
        sharpness=table.sharpness,
        seconds=table.seconds,
        **{f"emb_{model}": array for model, array in table.embeddings.items()},
    )
    print(f"{NUAA}: {table.usable.sum()}/{len(frames)} frames usable, {table.seconds:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="*", default=[*STILL_SETS, NUAA])
    parser.add_argument("--shard", help="I/N: embed every N-th image from the I-th (stills only)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0: cores / workers)")
    args = parser.parse_args()
    shard = tuple(int(part) for part in args.shard.split("/")) if args.shard else None
    CACHE.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=Path(tempfile.gettempdir()) / "faceauth-bench",
        inference_threads=args.threads,
        recognition_models=MODELS,
    )
    recognition = Recognition(FaceEngine.load(settings))
    for name in args.sets:
        if name == NUAA:
            embed_nuaa(recognition)
        else:
            embed_stills(name, recognition, shard)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
