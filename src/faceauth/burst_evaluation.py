"""The login protocol on labelled captures (``faceauth eval --bursts N`` and ``faceauth calibrate``).

The CSV has ``path,identity,session`` rows, each session's frames in capture order. Every frame is
gated and embedded once (by every model, as enrollment embeds). Then each identity enrolls from the
first N usable frames of its first session that has N (the template is built as enrollment builds
it); it is probed with bursts of N consecutive frames from its other sessions (genuine) and every
burst of every other identity's sessions (impostor). A burst is judged as ``/face/verify`` judges
it: too few usable frames is a refusal (no score: a false reject when genuine), otherwise the
models' mean embeddings are compared with the template by ``vision.fusion.decide``, where the
slower models see only the burst's sharpest frames, as the served configuration has them."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceauth.domain import Embedding, InconsistentEnrollment
from faceauth.vision import matching
from faceauth.vision.engine import best_frame_positions
from faceauth.vision.fusion import decide
from faceauth.vision.recognition import Recognition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionFrame:
    path: Path
    identity: str
    session: str


@dataclass
class FrameTable:
    """Every frame gated and embedded once. ``embeddings[model][i]`` is meaningful where ``usable[i]``."""

    identities: list[str]
    sessions: list[str]
    usable: np.ndarray  # bool, per frame
    sharpness: np.ndarray  # float, per frame (0 where not usable)
    embeddings: dict[str, np.ndarray]  # model -> (frames, dim) float32
    seconds: float = 0.0


@dataclass(frozen=True)
class BurstPolicy:
    """What the served configuration does with a burst (from Settings)."""

    frames: int  # N: enrollment frames and burst length
    min_good_frames: int
    models: tuple[str, ...]
    best_frames: int  # 0: every model embeds every usable frame
    threshold: float
    enroll_min_consistency: float


@dataclass
class BurstScores:
    """Scores of every scored burst against every template, and the refusals."""

    models: tuple[str, ...]
    genuine: list[float]
    impostor: list[float]
    genuine_refused: int = 0  # genuine bursts with too few usable frames
    impostor_refused: int = 0
    enrolled: int = 0
    not_enrolled: list[str] | None = None
    per_model_genuine: dict[str, list[float]] | None = None
    per_model_impostor: dict[str, list[float]] | None = None


def read_sessions_csv(csv_path: Path, root: Path | None = None) -> list[SessionFrame]:
    """``path,identity,session`` rows in the order given (that order is the capture order)."""
    base = root if root is not None else csv_path.parent
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "identity", "session"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path} needs the columns path,identity,session for --bursts")
        return [SessionFrame(base / row["path"], row["identity"], row["session"]) for row in reader]


def embed_frames(
    frames: Sequence[SessionFrame], recognition: Recognition, progress: Callable[[], None] | None = None
) -> FrameTable:
    """Gate every frame as a login frame is gated, and embed the usable ones by every model."""
    import time

    started = time.perf_counter()
    dims = {embedder.name: embedder.dim for embedder in recognition.embedders}
    table = FrameTable(
        identities=[frame.identity for frame in frames],
        sessions=[frame.session for frame in frames],
        usable=np.zeros(len(frames), dtype=bool),
        sharpness=np.zeros(len(frames), dtype=np.float64),
        embeddings={model: np.zeros((len(frames), dim), np.float32) for model, dim in dims.items()},
    )
    for index, frame in enumerate(frames):
        try:
            data = frame.path.read_bytes()
        except OSError as error:
            logger.warning("cannot read %s: %s", frame.path, error)
            data = b""
        gated, _ = recognition.gate([data])
        if gated:
            table.usable[index] = True
            table.sharpness[index] = gated[0].sharpness
            for model, vectors in recognition.embed_gated(gated).items():
                table.embeddings[model][index] = vectors[0]
        if progress:
            progress()
    table.seconds = time.perf_counter() - started
    return table


def _session_runs(table: FrameTable) -> dict[tuple[str, str], list[int]]:
    runs: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(zip(table.identities, table.sessions, strict=True)):
        runs.setdefault(key, []).append(index)
    return runs


def enroll_templates(
    table: FrameTable, policy: BurstPolicy
) -> tuple[dict[str, tuple[str, dict[str, Embedding]]], list[str]]:
    """identity -> (enrollment session, template per model); and the identities that could not enroll."""
    templates: dict[str, tuple[str, dict[str, Embedding]]] = {}
    for (identity, session), indices in _session_runs(table).items():
        if identity in templates:
            continue
        usable = [i for i in indices if table.usable[i]][: policy.frames]
        if len(usable) < policy.frames:
            continue
        try:
            template = {
                model: matching.build_template(
                    list(table.embeddings[model][usable]), policy.enroll_min_consistency
                )
                for model in policy.models
            }
        except InconsistentEnrollment:
            logger.info("%s: session %s is not one person throughout; trying the next", identity, session)
            continue
        templates[identity] = (session, template)
    missing = sorted(set(table.identities) - set(templates))
    return templates, missing


def burst_probe(table: FrameTable, window: Sequence[int], policy: BurstPolicy) -> dict[str, Embedding] | None:
    """The probe of one burst as verify forms it, or None when too few frames are usable."""
    usable = [i for i in window if table.usable[i]]
    if len(usable) < policy.min_good_frames:
        return None
    probe: dict[str, Embedding] = {}
    for position, model in enumerate(policy.models):
        chosen = usable
        if position > 0:
            picked = best_frame_positions([float(table.sharpness[i]) for i in usable], policy.best_frames)
            chosen = [usable[p] for p in picked]
        probe[model] = matching.mean_embedding(list(table.embeddings[model][chosen]))
    return probe


def login_protocol(table: FrameTable, policy: BurstPolicy) -> BurstScores:
    templates, missing = enroll_templates(table, policy)
    scores = BurstScores(
        policy.models,
        [],
        [],
        enrolled=len(templates),
        not_enrolled=missing,
        per_model_genuine={m: [] for m in policy.models},
        per_model_impostor={m: [] for m in policy.models},
    )
    for (identity, session), indices in _session_runs(table).items():
        for start in range(0, len(indices) - policy.frames + 1, policy.frames):
            window = indices[start : start + policy.frames]
            probe = burst_probe(table, window, policy)
            for enrolled, (enrolled_session, template) in templates.items():
                genuine = enrolled == identity
                if genuine and session == enrolled_session:
                    continue
                if probe is None:
                    if genuine:
                        scores.genuine_refused += 1
                    else:
                        scores.impostor_refused += 1
                    continue
                decision = decide(probe, template, policy.models, policy.threshold)
                (scores.genuine if genuine else scores.impostor).append(decision.score)
                per_model = scores.per_model_genuine if genuine else scores.per_model_impostor
                assert per_model is not None
                for model, cosine in decision.cosines.items():
                    per_model[model].append(cosine)
    return scores
