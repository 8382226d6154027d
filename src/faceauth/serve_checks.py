"""Checks and set-up of ``faceauth serve`` before any worker starts: the model files liveness needs,
and the private folder the workers share their metrics through."""

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
        names = ", ".join(fetch.wheel_member(model) for model in absent)
        raise ConfigurationError(
            f"liveness is required but these model files are missing: {names}. Run `{fetch.FETCH_COMMAND}` "
            f"once (it asks pip for {fetch.WHEEL_REQUIREMENT} and keeps only the model files in "
            f"{settings.models_dir}), or set FACEAUTH_LIVENESS_REQUIRED=false to run without liveness"
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
