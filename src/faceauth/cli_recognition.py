"""``faceauth compare``, ``eval`` and ``calibrate`` with every served recognition model.

compare prints each model's cosine and the served (fused) score; eval reports the served
configuration and each model alone; ``eval --bursts N`` and ``calibrate`` run the login protocol
(``faceauth.burst_evaluation``) through the same decision as ``/face/verify``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceauth.config import Settings, get_settings
from faceauth.domain import FaceAuthError

if TYPE_CHECKING:
    from faceauth.burst_evaluation import BurstPolicy, BurstScores, FrameTable
    from faceauth.vision.recognition import Recognition


def load_recognition(settings: Settings) -> Recognition:
    """The detector, the gates and every served model, loaded once at command start."""
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.recognition import Recognition

    return Recognition(FaceEngine.load(settings))


def cmd_compare(args: argparse.Namespace) -> int:
    """The faces of two image files compared by every served model, and the served decision."""
    from faceauth.vision.fusion import decide, served_threshold

    settings = get_settings()
    images = []
    for name in (args.image_a, args.image_b):  # before the models load: a typo fails at once
        try:
            images.append((name, Path(name).read_bytes()))
        except OSError as error:
            print(f"faceauth compare: cannot read {name}: {error.strerror or error}", file=sys.stderr)
            return 2
    recognition = load_recognition(settings)
    embedded = []
    for name, data in images:
        try:
            embedded.append(recognition.embed_still(data))
        except FaceAuthError as error:
            print(f"faceauth compare: {name}: {error}", file=sys.stderr)
            return 2
    models = recognition.models
    decision = decide(embedded[0], embedded[1], models, served_threshold(settings, models))
    result = {
        "similarity": round(decision.score, 4),
        "threshold": decision.threshold,
        "match": decision.match,
        "models": list(models),
        "scores": {model: round(cosine, 4) for model, cosine in decision.cosines.items()},
    }
    if args.json:
        print(json.dumps(result))
        return 0
    for model, cosine in decision.cosines.items():
        print(f"{model}: cosine similarity {cosine:.4f}")
    label = "fused score" if len(models) > 1 else "similarity"
    verdict = "same person" if decision.match else "different people"
    print(f"{label} {decision.score:.4f} (threshold {decision.threshold}): {verdict}")
    return 0


def cmd_eval_images(args: argparse.Namespace) -> int:
    """Single images, all pairs: the served configuration's report, and each model's alone."""
    from tqdm import tqdm

    from faceauth import evaluation
    from faceauth.vision.fusion import served_threshold

    settings = get_settings()
    csv_path = Path(args.images_csv)
    try:
        images = evaluation.read_images_csv(csv_path, Path(args.root) if args.root else None)
    except OSError as error:
        print(f"faceauth eval: cannot read {csv_path}: {error.strerror or error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, csv.Error) as error:  # wrong columns, short rows, not a CSV
        print(f"faceauth eval: {csv_path}: {error}", file=sys.stderr)
        return 2
    missing = [image.path for image in images if not image.path.is_file()]
    if not images or len(missing) == len(images):
        where = f"; e.g. {missing[0]} does not exist (wrong --root?)" if missing else ""
        print(f"faceauth eval: no image of {csv_path} can be found{where}", file=sys.stderr)
        return 2
    if missing:
        print(
            f"faceauth eval: {len(missing)} of {len(images)} images do not exist, e.g. {missing[0]}",
            file=sys.stderr,
        )
    recognition = load_recognition(settings)
    with tqdm(total=len(images), desc="embedding", unit="img", file=sys.stderr) as bar:
        embedded = evaluation.embed_images_by_model(images, recognition.embed_still, progress=bar.update)
    if len(embedded.failed) == len(images):
        print(f"faceauth eval: no usable face in any of the {len(images)} images", file=sys.stderr)
        return 1
    if embedded.failed:
        print(
            f"faceauth eval: no usable face in {len(embedded.failed)} images, e.g. {embedded.failed[0]}",
            file=sys.stderr,
        )
    models = recognition.models
    scores = evaluation.model_pair_scores(embedded, models, max_impostor_pairs=args.max_impostor_pairs)
    served = "fused" if len(models) > 1 else models[0]
    threshold = served_threshold(settings, models)
    single = evaluation.EmbeddedSet(failed=embedded.failed, seconds=embedded.seconds)
    report = evaluation.summarise(single, scores[served], threshold, len(images))
    report["models"] = list(models)
    if len(models) > 1:
        report["per_model"] = {
            model: evaluation.summarise(
                single, scores[model], served_threshold(settings, [model]), len(images)
            )
            for model in models
        }
    _write_report(report, args.json)
    if args.plot and len(scores[served].genuine) and len(scores[served].impostor):
        evaluation.plot_report(scores[served], threshold, Path(args.plot))
        print(f"plot written to {args.plot}", file=sys.stderr)
    elif args.plot:
        print("faceauth eval: no plot: it needs genuine and impostor pairs", file=sys.stderr)
    return 0


def _frames_table(args: argparse.Namespace, settings: Settings) -> FrameTable:
    from tqdm import tqdm

    from faceauth.burst_evaluation import embed_frames, read_sessions_csv

    frames = read_sessions_csv(Path(args.images_csv), Path(args.root) if args.root else None)
    recognition = load_recognition(settings)
    with tqdm(total=len(frames), desc="frames", unit="img", file=sys.stderr) as bar:
        return embed_frames(frames, recognition, progress=bar.update)


def bursts_report(scores: BurstScores, threshold: float) -> dict[str, object]:
    """The ``bursts`` object of ``eval --bursts`` (DESIGN.md section 4), plus refusals, intervals
    and each model's scores."""
    from faceauth import calibration

    genuine, impostor = np.asarray(scores.genuine), np.asarray(scores.impostor)
    rates = calibration.rates_at(genuine, impostor, threshold, rejected_genuine=scores.genuine_refused)
    per_model: dict[str, object] = {}
    for model in scores.models:
        model_genuine = np.asarray((scores.per_model_genuine or {}).get(model, []))
        model_impostor = np.asarray((scores.per_model_impostor or {}).get(model, []))
        per_model[model] = {
            "auc": _auc(model_genuine, model_impostor),
            "genuine_min": _lowest(model_genuine),
            "impostor_max": _highest(model_impostor),
        }
    return {
        "models": list(scores.models),
        "identities_enrolled": scores.enrolled,
        "not_enrolled": scores.not_enrolled or [],
        "n_genuine": len(genuine) + scores.genuine_refused,
        "n_impostor": len(impostor) + scores.impostor_refused,
        "genuine_refused": scores.genuine_refused,
        "impostor_refused": scores.impostor_refused,
        "auc": _auc(genuine, impostor),
        "tar_at_far": {
            target: calibration.tar_at_far(genuine, impostor, float(target)) for target in ("0.01", "0.001")
        },
        "at_threshold": {
            "threshold": threshold,
            "tar": round(1 - rates.frr, 5) if rates.n_genuine else None,
            "far": round(rates.far, 6) if rates.n_impostor else None,
            "tar_95ci": [round(1 - bound, 5) for bound in reversed(rates.frr_interval)],
            "far_95ci": [round(bound, 6) for bound in rates.far_interval],
            "false_accepts": rates.false_accepts,
        },
        "genuine_min": _lowest(genuine),
        "impostor_max": _highest(impostor),
        "per_model": per_model,
    }


def _auc(genuine: np.ndarray, impostor: np.ndarray) -> float | None:
    from faceauth.evaluation import roc_auc

    return round(roc_auc(genuine, impostor), 5) if len(genuine) and len(impostor) else None


def _lowest(values: np.ndarray) -> float | None:
    return round(float(values.min()), 4) if len(values) else None


def _highest(values: np.ndarray) -> float | None:
    return round(float(values.max()), 4) if len(values) else None


def burst_policy(settings: Settings, frames: int) -> BurstPolicy:
    """How the served configuration treats a burst of ``frames`` frames."""
    from faceauth.burst_evaluation import BurstPolicy
    from faceauth.vision.fusion import served_threshold

    if frames < 1:
        raise ValueError("--bursts must be at least 1")
    return BurstPolicy(
        frames=frames,
        min_good_frames=min(settings.min_good_frames, frames),
        models=settings.recognition_models,
        best_frames=settings.recognition_best_frames,
        threshold=served_threshold(settings),
        enroll_min_consistency=settings.enroll_min_consistency,
    )


def cmd_eval_bursts(args: argparse.Namespace) -> int:
    """The login protocol (DESIGN.md section 4) at the served settings."""
    from faceauth.burst_evaluation import login_protocol

    settings = get_settings()
    policy = burst_policy(settings, args.bursts)
    table = _frames_table(args, settings)
    scores = login_protocol(table, policy)
    report = {
        "n_images": len(table.identities),
        "n_unusable": int((~table.usable).sum()),
        "ms_per_image": round(1000 * table.seconds / max(len(table.identities), 1), 2),
        "bursts": bursts_report(scores, policy.threshold),
    }
    _write_report(report, args.json)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """A threshold for the operator's own captures at a target FAR, with what it costs; exit 1
    when the captures cannot support the target."""
    from faceauth.burst_evaluation import login_protocol
    from faceauth.calibration import recommend_threshold

    settings = get_settings()
    policy = burst_policy(settings, args.bursts)
    table = _frames_table(args, settings)
    scores = login_protocol(table, policy)
    recommendation = recommend_threshold(
        np.asarray(scores.genuine), np.asarray(scores.impostor), args.target_far, scores.genuine_refused
    )
    report: dict[str, object] = {
        "models": list(policy.models),
        "target_far": args.target_far,
        "impostors_needed": recommendation.impostors_needed,
        "n_genuine": len(scores.genuine) + scores.genuine_refused,
        "n_impostor": len(scores.impostor),
        "genuine_refused": scores.genuine_refused,
        "served_threshold": policy.threshold,
        "supported": recommendation.supported,
    }
    if recommendation.rates is None:
        report["reason"] = recommendation.reason
        _write_report(report, args.json)
        print(f"faceauth calibrate: {recommendation.reason}", file=sys.stderr)
        return 1
    report["recommended"] = recommendation.rates.as_dict()
    _write_report(report, args.json)
    rates = recommendation.rates
    print(
        f"recommended FACEAUTH_MATCH_THRESHOLD={rates.threshold:.4f}: FAR {rates.far:.2g}"
        f" ({rates.false_accepts}/{rates.n_impostor}), FRR {rates.frr:.3f}"
        f" (95 % interval {rates.frr_interval[0]:.3f}-{rates.frr_interval[1]:.3f})",
        file=sys.stderr,
    )
    return 0


def _write_report(report: dict[str, object], json_path: str | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n")


def add_calibrate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="recommend a threshold for a target FAR from your own labelled captures"
    )
    calibrate.add_argument("--images-csv", required=True, help="CSV with path,identity,session rows")
    calibrate.add_argument("--root", help="folder the paths are relative to (default: the CSV's)")
    calibrate.add_argument("--bursts", type=int, default=8, help="frames per burst (default 8)")
    calibrate.add_argument("--target-far", type=float, default=1e-3, help="false-accept rate to meet")
    calibrate.add_argument("--json", metavar="OUT", help="also write the report to this file")
    calibrate.set_defaults(handler=cmd_calibrate)
