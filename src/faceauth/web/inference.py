"""Slow calls (face detection and embedding) run in worker threads, a bounded number at a time, so
the event loop keeps answering other requests meanwhile."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request

T = TypeVar("T")


async def run_inference(request: Request, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker thread, at most ``inference_concurrency`` at a time per
    worker process (``app.state.inference_limiter``, set by ``create_app``)."""
    limiter: anyio.CapacityLimiter = request.app.state.inference_limiter
    return await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=limiter)
