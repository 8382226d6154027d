"""Accuracy of the recognizer on a labelled image set: ROC, AUC, EER, true-accept rates at fixed
false-accept rates, and the rates at the configured threshold.

Every image is embedded once (its largest face, no quality gates: this measures recognition, not
the capture conditions); same-identity pairs are genuine, different-identity pairs impostors."""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceauth.calibration import tar_at_far
from faceauth.domain import Embedding, FaceAuthError
from faceauth.vision.fusion import fuse

logger = logging.getLogger(__name__)

FAR_TARGETS = ("0.01", "0.001", "0.0001")


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    identity: str


@dataclass
class EmbeddedSet:
    embeddings: list[Embedding] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class PairScores:
    genuine: np.ndarray
    impostor: np.ndarray


def read_images_csv(csv_path: Path, root: Path | None = None) -> list[LabelledImage]:
    """``path,identity`` rows; paths relative to ``root`` (default: the CSV's folder)."""
    base = root if root is not None else csv_path.parent
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "identity"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path} needs the columns path,identity")
        return [LabelledImage(base / row["path"], row["identity"]) for row in reader]


def embed_images(
    images: Iterable[LabelledImage],
    embed: Callable[[bytes], Embedding],
    progress: Callable[[], None] | None = None,
) -> EmbeddedSet:
    """Embed every image once. An image with no usable face (or unreadable) counts as failed."""
    result = EmbeddedSet()
    started = time.perf_counter()
    for image in images:
        try:
            result.embeddings.append(embed(image.path.read_bytes()))
            result.identities.append(image.identity)
        except (FaceAuthError, OSError) as error:
            logger.debug("no usable face in %s: %s", image.path, error)
            result.failed.append(image.path)
        if progress:
            progress()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class ModelEmbeddedSet:
    """Every image embedded once by every model (``vectors[model][i]`` belongs to ``identities[i]``)."""

    vectors: dict[str, list[Embedding]] = field(default_factory=dict)
    identities: list[str] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def embed_images_by_model(
    images: Iterable[LabelledImage],
    embed: Callable[[bytes], dict[str, Embedding]],
    progress: Callable[[], None] | None = None,
) -> ModelEmbeddedSet:
    """As :func:`embed_images`, with every model's embedding of each image."""
    result = ModelEmbeddedSet()
    started = time.perf_counter()
    for image in images:
        try:
            embeddings = embed(image.path.read_bytes())
        except (FaceAuthError, OSError) as error:
            logger.debug("no usable face in %s: %s", image.path, error)
            result.failed.append(image.path)
        else:
            for model, vector in embeddings.items():
                result.vectors.setdefault(model, []).append(vector)
            result.identities.append(image.identity)
        if progress:
            progress()
    result.seconds = time.perf_counter() - started
    return result


def model_pair_scores(
    embedded: ModelEmbeddedSet,
    models: tuple[str, ...],
    max_impostor_pairs: int = 10_000_000,
    seed: int = 0,
    block: int = 2048,
) -> dict[str, PairScores]:
    """Per model, and ``"fused"`` (``vision.fusion.fuse``) when there are several, the scores of
    all genuine pairs and of all impostor pairs (or of the same uniform sample of them for every
    model, when there are more than ``max_impostor_pairs``)."""
    names = [*models, "fused"] if len(models) > 1 else list(models)
    if not embedded.identities:
        return {name: PairScores(np.zeros(0, np.float32), np.zeros(0, np.float32)) for name in names}
    vectors = {model: np.stack(embedded.vectors[model]).astype(np.float32) for model in models}
    labels = np.unique(np.asarray(embedded.identities), return_inverse=True)[1]
    count = len(labels)
    genuine: dict[str, list[np.ndarray]] = {name: [] for name in names}
    impostor: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, count, block):
        rows = np.arange(start, min(start + block, count))[:, None]
        upper = np.arange(count)[None, :] > rows
        same = labels[rows] == labels[None, :]
        cosines = {model: vectors[model][start : start + block] @ vectors[model].T for model in models}
        if len(models) > 1:
            cosines["fused"] = fuse(cosines, models).astype(np.float32)
        for name in names:
            genuine[name].append(cosines[name][upper & same])
            impostor[name].append(cosines[name][upper & ~same])
    total_impostor = sum(len(part) for part in impostor[names[0]])
    chosen = None
    if total_impostor > max_impostor_pairs:
        chosen = np.random.default_rng(seed).choice(total_impostor, max_impostor_pairs, replace=False)
    result = {}
    for name in names:
        all_impostor = np.concatenate(impostor[name])
        result[name] = PairScores(
            np.concatenate(genuine[name]).astype(np.float32),
            (all_impostor if chosen is None else all_impostor[chosen]).astype(np.float32),
        )
    return result


def pair_scores(
    embedded: EmbeddedSet, max_impostor_pairs: int = 10_000_000, seed: int = 0, block: int = 2048
) -> PairScores:
    """Cosine scores of all genuine pairs and of all impostor pairs, or of a uniform random sample
    of ``max_impostor_pairs`` of them when there are more."""
    if not embedded.embeddings:
        return PairScores(np.zeros(0, np.float32), np.zeros(0, np.float32))
    vectors = np.stack(embedded.embeddings).astype(np.float32)
    labels = np.unique(np.asarray(embedded.identities), return_inverse=True)[1]
    count = len(vectors)
    total_pairs = count * (count - 1) // 2
    genuine_parts, impostor_parts = [], []
    for start in range(0, count, block):
        scores = vectors[start : start + block] @ vectors.T
        rows = np.arange(start, min(start + block, count))[:, None]
        upper = np.arange(count)[None, :] > rows
        same = labels[rows] == labels[None, :]
        genuine_parts.append(scores[upper & same])
        impostor_parts.append(scores[upper & ~same])
    genuine = np.concatenate(genuine_parts)
    impostor = np.concatenate(impostor_parts)
    if len(impostor) > max_impostor_pairs:
        chosen = np.random.default_rng(seed).choice(len(impostor), max_impostor_pairs, replace=False)
        impostor = impostor[chosen]
    logger.info("%d genuine, %d impostor pairs (of %d pairs)", len(genuine), len(impostor), total_pairs)
    return PairScores(genuine.astype(np.float32), impostor.astype(np.float32))


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability that a genuine pair scores above an impostor pair (ties count half)."""
    if not len(genuine) or not len(impostor):
        return float("nan")
    ordered = np.sort(impostor)
    below = np.searchsorted(ordered, genuine, side="left")
    below_or_equal = np.searchsorted(ordered, genuine, side="right")
    return float(np.mean((below + below_or_equal) / 2) / len(ordered))


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true-accept rate, false-accept rate) when a score at or above ``threshold`` is accepted."""
    tar = float(np.mean(genuine >= threshold)) if len(genuine) else float("nan")
    far = float(np.mean(impostor >= threshold)) if len(impostor) else float("nan")
    return tar, far


def threshold_for_far(impostor: np.ndarray, target: float) -> float:
    """The lowest threshold whose false-accept rate is at most ``target``.

    Below 1 / len(impostor) the answer rests on no observed impostor and means little; callers
    report the impostor count alongside."""
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(target * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.float32(np.inf)))


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where the false-reject and false-accept rates cross."""
    candidates = np.unique(np.concatenate([genuine, np.quantile(impostor, np.linspace(0, 1, 2001))]))
    sorted_genuine, sorted_impostor = np.sort(genuine), np.sort(impostor)
    frr = np.searchsorted(sorted_genuine, candidates, side="left") / len(genuine)
    far = 1 - np.searchsorted(sorted_impostor, candidates, side="left") / len(impostor)
    best = int(np.argmin(np.abs(frr - far)))
    return float((frr[best] + far[best]) / 2), float(candidates[best])


def summarise(
    embedded: EmbeddedSet, scores: PairScores, threshold: float, n_images: int
) -> dict[str, object]:
    """The ``faceauth eval`` report (its fields are part of the CLI contract: README, "Command line")."""
    genuine, impostor = scores.genuine, scores.impostor
    report: dict[str, object] = {
        "n_images": n_images,
        "n_failed": len(embedded.failed),
        "n_genuine": len(genuine),
        "n_impostor": len(impostor),
        "auc": None,
        "eer": None,
        "tar_at_far": {},
        "at_threshold": {"threshold": threshold, "tar": None, "far": None},
        "ms_per_image": round(1000 * embedded.seconds / max(n_images, 1), 2),
    }
    if len(impostor):
        report["tar_at_far"] = {target: _at_far(genuine, impostor, float(target)) for target in FAR_TARGETS}
        tar, far = rates_at(genuine, impostor, threshold)
        report["at_threshold"] = {"threshold": threshold, "tar": tar if len(genuine) else None, "far": far}
    if len(genuine) and len(impostor):
        eer, eer_threshold = equal_error_rate(genuine, impostor)
        report.update(
            auc=round(roc_auc(genuine, impostor), 5), eer=round(eer, 5), eer_threshold=round(eer_threshold, 4)
        )
    return report


def _at_far(genuine: np.ndarray, impostor: np.ndarray, target: float) -> dict[str, object]:
    """TAR at ``target``; threshold and tar are None ("n/a") when there are fewer impostor pairs
    than the target needs (3 / FAR, ``calibration.impostors_needed``)."""
    return tar_at_far(genuine, impostor, target)


def plot_report(scores: PairScores, threshold: float, path: Path) -> None:
    """ROC (false-accept rate on a log axis) beside genuine and impostor score histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    genuine, impostor = scores.genuine, scores.impostor
    figure, (roc_axes, hist_axes) = plt.subplots(1, 2, figsize=(12, 4.8))
    cuts = np.unique(np.concatenate([genuine, np.quantile(impostor, np.linspace(0, 1, 4001))]))
    tar = 1 - np.searchsorted(np.sort(genuine), cuts, side="left") / max(len(genuine), 1)
    far = 1 - np.searchsorted(np.sort(impostor), cuts, side="left") / max(len(impostor), 1)
    floor = 1 / max(len(impostor), 1)
    roc_axes.plot(np.maximum(far, floor), tar, color="tab:blue")
    tar_t, far_t = rates_at(genuine, impostor, threshold)
    roc_axes.scatter(
        [max(far_t, floor)], [tar_t], color="tab:red", zorder=3, label=f"threshold {threshold:.3f}"
    )
    roc_axes.set(xscale="log", xlabel="false-accept rate", ylabel="true-accept rate", title="ROC")
    roc_axes.grid(True, which="both", alpha=0.3)
    roc_axes.legend(loc="lower right")
    bins = np.linspace(-0.5, 1.0, 76)
    hist_axes.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"impostor ({len(impostor)})")
    hist_axes.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"genuine ({len(genuine)})")
    hist_axes.axvline(threshold, color="tab:red", linestyle="--", label="threshold")
    hist_axes.set(xlabel="cosine similarity", ylabel="density", title="Score distributions")
    hist_axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
