"""Stage timings of the vision pipeline, reported to whoever listens (the metrics, at web start-up).

Vision knows no metrics library: it calls :func:`timed` around each stage (decode, detect, embed,
mesh), and each registered observer gets the stage's name and its duration in seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StageObserver = Callable[[str, float], None]

_observers: list[StageObserver] = []


def add_observer(observer: StageObserver) -> None:
    if observer not in _observers:
        _observers.append(observer)


def remove_observer(observer: StageObserver) -> None:
    if observer in _observers:
        _observers.remove(observer)


@contextmanager
def timed(stage: str) -> Iterator[None]:
    if not _observers:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        for observer in tuple(_observers):
            observer(stage, seconds)
