"""What an operator watches, as Prometheus metrics (``GET /metrics``, off unless FACEAUTH_METRICS_ENABLED).

All of faceauth's metrics are declared here; the service and the web layer call the small functions
below, the vision layer knows nothing of them (its stage timings arrive through
:mod:`faceauth.vision.timing`). With several worker processes, ``faceauth serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh private folder before any worker starts, so every worker
writes its samples there and whichever worker answers a scrape reports the sum over all of them
(prometheus-client's multiprocess mode). Lock-outs active are read from the database at scrape time:
the database is where lock-outs live, for every worker and server alike.

Labels take values from small fixed sets only (route templates, never raw paths; outcome codes,
never user input), so no label can grow without bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from faceauth.metrics_env import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "faceauth_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "faceauth_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LOGINS = Counter(
    "faceauth_login_attempts",
    "Login steps by outcome. step=password: success, wrong_password (unknown logins too), locked, "
    "disabled. step=face: success, no_match, not_live, locked, too_few_frames",
    ["step", "outcome"],
)
LIVENESS_CHALLENGES = Counter(
    "faceauth_liveness_challenges",
    "Liveness challenges judged, by purpose and outcome (live, or the failure reason code)",
    ["purpose", "outcome"],
)
LIVENESS_MOVES = Counter(
    "faceauth_liveness_moves",
    "Moves of judged liveness challenges: passed, failed (the move the challenge stopped at), "
    "not_reached (after it)",
    ["move", "outcome"],
)
INFERENCE_SECONDS = Histogram(
    "faceauth_inference_stage_seconds",
    "Time of one call of an inference stage: decode (one image), detect (MTCNN on one image), "
    "embed (FaceNet on a batch), mesh (face mesh and iris on one frame)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
)
INFERENCE_WAITING = Gauge(
    "faceauth_inference_queue_depth",
    "Face bursts waiting for the inference limiter (FACEAUTH_INFERENCE_CONCURRENCY per worker)",
    multiprocess_mode="livesum",
)
INFERENCE_RUNNING = Gauge(
    "faceauth_inference_in_progress",
    "Face bursts being processed now",
    multiprocess_mode="livesum",
)


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


def record_login(step: str, outcome: str) -> None:
    LOGINS.labels(step, outcome).inc()


def record_liveness(purpose: str, outcome: str, moves: Iterable[str], moves_done: int) -> None:
    LIVENESS_CHALLENGES.labels(purpose, outcome).inc()
    for index, move in enumerate(moves):
        if index < moves_done:
            LIVENESS_MOVES.labels(move, "passed").inc()
        elif index == moves_done:
            LIVENESS_MOVES.labels(move, "failed").inc()
        else:
            LIVENESS_MOVES.labels(move, "not_reached").inc()


def observe_stage(stage: str, seconds: float) -> None:
    """A :data:`faceauth.vision.timing.StageObserver`."""
    INFERENCE_SECONDS.labels(stage).observe(seconds)


@contextmanager
def inference_slot_waiting() -> Iterator[None]:
    INFERENCE_WAITING.inc()
    try:
        yield
    finally:
        INFERENCE_WAITING.dec()


@contextmanager
def inference_running() -> Iterator[None]:
    INFERENCE_RUNNING.inc()
    try:
        yield
    finally:
        INFERENCE_RUNNING.dec()


class LockoutsCollector(Collector):
    """``faceauth_lockouts_active{step}``, counted in the database when scraped."""

    def __init__(self, count_active: Callable[[], dict[str, int]]) -> None:
        self.count_active = count_active

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "faceauth_lockouts_active", "Lock-outs in force now, by step (face, password)", labels=["step"]
        )
        counts = self.count_active()
        for step in sorted({"face", "password", *counts}):
            family.add_metric([step], counts.get(step, 0))
        yield family


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The exposition text: every worker's samples (multiprocess mode) or this process's, plus
    ``extra`` collectors evaluated now."""
    registry = CollectorRegistry()
    if multiprocess_enabled():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call,unused-ignore]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    extra_registry = CollectorRegistry()
    for collector in extra:
        extra_registry.register(collector)
    return text + generate_latest(extra_registry)


def worker_exiting() -> None:
    """Drops this process's live gauges from the shared folder (multiprocess mode)."""
    if multiprocess_enabled():
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call,unused-ignore]
