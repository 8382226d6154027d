"""Log set-up: text for eyes or one JSON object per line for a log pipeline (``FACEAUTH_LOG_FORMAT``).

Every record carries the request it belongs to, where there is one: its id (``X-Request-ID``), the
route template, and the user id once the request is authenticated. The web layer opens a
:class:`RequestContext` per request (``web.request_log``); anything below it adds to the context with
:func:`note_user`. JSON lines have the keys ``time, level, logger, message`` and, where known,
``request_id, user_id, route, method, status, duration_ms``, plus ``exception`` for a traceback.

What never goes into a log line is the caller's business: passwords, tokens, templates and images are
never passed to a logger anywhere in faceauth, and ``tests/web/test_log_privacy.py`` checks a whole
flow's lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Libraries whose INFO or DEBUG lines would carry request data: never below WARNING.
QUIET_LOGGERS = ("sqlalchemy", "multipart", "python_multipart", "PIL")
# Extra record attributes a log call may pass (``extra={...}``) that the JSON lines carry.
EXTRA_FIELDS = ("route", "method", "status", "duration_ms")


@dataclass
class RequestContext:
    """Mutable on purpose: dependencies that run in worker threads see the same object."""

    request_id: str
    route: str | None = None
    user_id: int | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "faceauth_request", default=None
)


def open_request(request_id: str) -> contextvars.Token[RequestContext | None]:
    return _current.set(RequestContext(request_id=request_id))


def close_request(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext | None:
    return _current.get()


def note_user(user_id: int) -> None:
    """Records who the current request is from, for every later log line of that request."""
    context = _current.get()
    if context is not None:
        context.user_id = user_id


def note_route(route: str) -> None:
    context = _current.get()
    if context is not None:
        context.route = route


class RequestContextFilter(logging.Filter):
    """Copies the current request's id, route and user onto each record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if not hasattr(record, "request_id"):
            record.request_id = context.request_id if context else None
        if not hasattr(record, "user_id"):
            record.user_id = context.user_id if context else None
        if getattr(record, "route", None) is None and context is not None:
            record.route = context.route
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; keys with no value are left out."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "user_id", *EXTRA_FIELDS):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id user]: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        user_id = getattr(record, "user_id", None)
        parts = [p for p in (request_id, f"user={user_id}" if user_id is not None else None) if p]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: one stderr handler on the root logger, uvicorn's
    loggers routed through it (uvicorn applies this in every worker process)."""
    formatter = "faceauth.logs.JsonFormatter" if log_format == "json" else "faceauth.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "faceauth.logs.RequestContextFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's own start-up and error lines go through the same handler; its access log is
            # replaced by faceauth.access (web.request_log), which knows the route and the request id.
            "uvicorn": {"handlers": [], "propagate": True, "level": level.upper()},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # Held at WARNING whatever the level: SQLAlchemy logs every statement *with its parameters*
            # (password hashes, template ciphertext) at INFO; the multipart parser and Pillow log the
            # bytes they parse at DEBUG.
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def configure(log_format: str, level: str) -> dict[str, Any]:
    config = logging_config(log_format, level)
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    return config
