"""Recognition accuracy per data set and per model (FaceNet, SFace, fused), the fitting of the
fusion constants and default thresholds, the login protocol on NUAA, cohort score normalisation,
and SFace's speed.

    python bench/recognition_data.py          # embed every set once (cached)
    python bench/recognition.py fit           # IMPOSTOR_NORMS and CALIBRATED_THRESHOLDS (LFW only)
    python bench/recognition.py report [--json OUT]
    python bench/recognition.py speed
    python bench/recognition.py weights       # which model set to serve (calibration data only)

Calibration uses faces/lfw_5590_subset (impostors) and deepface_tests, face_recognition_examples,
lfw_small_bin (genuine pairs). NUAA is reported, never fitted on."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faceauth import calibration
from faceauth.burst_evaluation import BurstPolicy, FrameTable, login_protocol
from faceauth.cli_recognition import bursts_report
from faceauth.config import Settings
from faceauth.evaluation import roc_auc
from faceauth.vision import fusion
from recognition_data import MODELS, NUAA, load_cache

LFW = "faces/lfw_5590_subset"
GENUINE_SETS = ("faces/deepface_tests", "faces/face_recognition_examples", "faces/lfw_small_bin")
REPORT_SETS = (*GENUINE_SETS, "faces/facenet_pytorch_test_images")
CONFIGS: tuple[tuple[str, ...], ...] = (("facenet",), ("sface",), ("facenet", "sface"))
FIT_FAR = 1e-5


def load_stills(name: str) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """(identities, model -> embeddings) of the images with a face, and how many had none."""
    data = load_cache(name)
    found = data["found"]
    return data["identities"][found], {m: data[f"emb_{m}"][found] for m in MODELS}, int((~found).sum())


def pair_cosines(identities: np.ndarray, vectors: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], ...]:
    """Per model, the cosines of all genuine and of all impostor pairs (upper triangle)."""
    upper = np.triu(np.ones((len(identities), len(identities)), dtype=bool), k=1)
    same = identities[:, None] == identities[None, :]
    genuine, impostor = {}, {}
    for model, matrix in vectors.items():
        scores = matrix @ matrix.T
        genuine[model], impostor[model] = scores[upper & same], scores[upper & ~same]
    return genuine, impostor


def config_scores(cosines: dict[str, np.ndarray], models: tuple[str, ...]) -> np.ndarray:
    return fusion.fuse(cosines, models)


def fit() -> dict[str, object]:
    """Impostor statistics and thresholds at FAR 1e-5, from LFW's impostor pairs only; the
    genuine calibration sets show what the thresholds cost."""
    identities, vectors, missing = load_stills(LFW)
    _, impostor = pair_cosines(identities, vectors)
    norms = {m: {"mean": float(impostor[m].mean()), "std": float(impostor[m].std())} for m in MODELS}
    print(
        f"LFW: {len(identities)} faces ({missing} without), {len(impostor['sface'])} impostor pairs",
        file=sys.stderr,
    )
    genuine_all = calibration_genuine()
    fusion.IMPOSTOR_NORMS.update({m: fusion.ScoreNorm(**v) for m, v in norms.items()})  # for this run
    thresholds = {}
    for models in CONFIGS:
        scores = config_scores(impostor, models)
        cut = calibration.threshold_for_far(scores, FIT_FAR)
        cut_1e4 = calibration.threshold_for_far(scores, 1e-4)
        cut_1e6 = calibration.threshold_for_far(scores, 1e-6)
        rates = calibration.rates_at(config_scores(genuine_all, models), scores, cut)
        thresholds["+".join(models)] = {
            "far_1e-5": round(cut, 4),
            "far_1e-4": round(cut_1e4, 4),
            "far_1e-6": round(cut_1e6, 4),
            "calibration_genuine_at_1e-5": {k: rates.as_dict()[k] for k in ("frr", "frr_95ci", "n_genuine")},
        }
    return {"impostor_norms": norms, "thresholds": thresholds, "n_impostor": len(impostor["sface"])}


def calibration_genuine() -> dict[str, np.ndarray]:
    """Per model, the cosines of every same-person pair of the genuine calibration sets."""
    genuine_parts: dict[str, list[np.ndarray]] = {m: [] for m in MODELS}
    for name in GENUINE_SETS:
        ids, vecs, _ = load_stills(name)
        genuine, _ = pair_cosines(ids, vecs)
        for m in MODELS:
            genuine_parts[m].append(genuine[m])
    return {m: np.concatenate(parts) for m, parts in genuine_parts.items()}


def stills_report(name: str, served: dict[tuple[str, ...], float]) -> dict[str, object]:
    identities, vectors, missing = load_stills(name)
    genuine, impostor = pair_cosines(identities, vectors)
    report: dict[str, object] = {"n_images": len(identities) + missing, "n_failed": missing}
    for models in CONFIGS:
        g, i = config_scores(genuine, models), config_scores(impostor, models)
        threshold = served[models]
        rates = calibration.rates_at(g, i, threshold)
        report["+".join(models)] = {
            "n_genuine": len(g),
            "n_impostor": len(i),
            "auc": round(roc_auc(g, i), 5) if len(g) and len(i) else None,
            "tar_at_far": {t: calibration.tar_at_far(g, i, float(t)) for t in ("0.01", "0.001", "0.0001")},
            "at_threshold": rates.as_dict(),
        }
    return report


def nuaa_table() -> FrameTable:
    data = load_cache(NUAA)
    return FrameTable(
        identities=list(data["identities"]),
        sessions=list(data["sessions"]),
        usable=data["usable"],
        sharpness=data["sharpness"],
        embeddings={m: data[f"emb_{m}"] for m in MODELS},
    )


def nuaa_report(served: dict[tuple[str, ...], float], frames: int = 8) -> dict[str, object]:
    table = nuaa_table()
    report: dict[str, object] = {"frames": len(table.identities), "usable": int(table.usable.sum())}
    defaults = Settings()  # the served models and how many frames the later ones embed
    best = defaults.recognition_best_frames
    runs = [(models, 0) for models in CONFIGS]
    runs += [(("facenet", "sface"), best), (tuple(defaults.recognition_models), best)]
    for models, best_frames in runs:
        threshold = served[tuple(sorted(models))]
        policy = BurstPolicy(frames, 5, models, best_frames, threshold, 0.5)
        key = "+".join(models) + (f" ({models[1]} on the best {best_frames} frames)" if best_frames else "")
        report[key] = bursts_report(login_protocol(table, policy), threshold)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["fit", "report", "snorm", "speed", "weights"])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.command == "fit":
        result: dict[str, object] = fit()
    elif args.command == "report":
        served = {models: fusion.calibrated_threshold(models) for models in CONFIGS}
        result = {"thresholds": {"+".join(k): v for k, v in served.items()}}
        for name in REPORT_SETS:
            result[name] = stills_report(name, served)
        result["spoof/nuaa login protocol (8-frame bursts)"] = nuaa_report(served)
    elif args.command == "snorm":
        from recognition_snorm import compare

        _, vectors, _ = load_stills(LFW)
        served = {models: fusion.calibrated_threshold(models) for models in CONFIGS}
        result = compare(vectors, nuaa_table(), {m: BurstPolicy(8, 5, m, 0, served[m], 0.5) for m in CONFIGS})
    elif args.command == "weights":
        from recognition_weights import compare_weights

        identities, vectors, _ = load_stills(LFW)
        _, impostor = pair_cosines(identities, vectors)
        result = compare_weights(calibration_genuine(), impostor)
    else:
        from recognition_speed import speed

        result = speed()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
