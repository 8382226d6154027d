"""The ``faceauth`` command line: serve, compare, eval, db, keys, events, clients, oidc, models, users,
face."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from faceauth import cli_oidc, cli_recognition
from faceauth.cli_admin import add_admin_commands
from faceauth.cli_models import add_models_commands
from faceauth.config import Settings, get_settings
from faceauth.domain import FaceAuthError

if TYPE_CHECKING:
    from faceauth.storage.interface import StorageBackend
    from faceauth.vision.engine import FaceEngine

logger = logging.getLogger(__name__)


def _load_engine(settings: Settings) -> FaceEngine:
    """The models load here, at command start, never at import (``--help`` stays instant)."""
    from faceauth.vision.engine import FaceEngine

    return FaceEngine.load(settings)


def cmd_compare(args: argparse.Namespace) -> int:
    """Similarity of the faces in two image files, by every served model, against the threshold."""
    return cli_recognition.cmd_compare(args)


def cmd_eval(args: argparse.Namespace) -> int:
    """ROC, EER and true-accept rates at fixed false-accept rates on a labelled image set; with
    ``--bursts N`` the login protocol instead."""
    if args.bursts:
        return cli_recognition.cmd_eval_bursts(args)
    return cli_recognition.cmd_eval_images(args)


def listening_line(host: str, port: int) -> str:
    """What ``serve`` prints for a person to click: a wildcard address gets the loopback URL
    (``0.0.0.0`` is no address a browser can open), and says it listens on every address."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}
    if host in wildcard:
        shown = "all IPv6 addresses" if host == "::" else "all IPv4 addresses"
        return f"faceauth: listening on http://{wildcard[host]}:{port} ({shown}: {host or '0.0.0.0'}:{port})"
    return f"faceauth: listening on http://{f'[{host}]' if ':' in host else host}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    """The web app and JSON API under uvicorn. Secrets and the schema are checked (and, in
    development mode, keys generated and migrations applied) once here, before any worker starts."""
    import uvicorn

    from faceauth import composition, logs, serve_checks

    settings = get_settings()
    try:
        composition.check_secrets(settings)
        composition.open_database(settings).close()
        serve_checks.check_models(settings)
    except FaceAuthError as error:
        print(f"faceauth serve: {error}", file=sys.stderr)
        return 2
    print(listening_line(args.host, args.port), flush=True)
    level = "debug" if args.verbose else settings.log_level
    with serve_checks.metrics_folder(settings):
        uvicorn.run(
            "faceauth.web.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # faceauth reads X-Forwarded-For itself, and only from FACEAUTH_TRUSTED_PROXIES (web.client_ip)
            proxy_headers=False,
            log_config=logs.logging_config(settings.log_format, level),  # applied in every worker
            log_level=level,
            access_log=False,  # faceauth.access logs each request (web.request_log)
        )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply pending database migrations (FACEAUTH_DATABASE_URL, or SQLite in the data folder)."""
    from faceauth.storage.sql import migrate
    from faceauth.storage.sql.database import SqlDatabase
    from faceauth.storage.stores import is_mongodb_url, open_backend

    settings = get_settings()
    if is_mongodb_url(settings.resolved_database_url):
        backend = open_backend(settings.resolved_database_url)
        try:
            backend.prepare_schema(settings)
        finally:
            backend.close()
        print("MongoDB: indexes created (MongoDB needs no migrations)")
        return 0
    database = SqlDatabase.from_url(settings.resolved_database_url)
    try:
        before = migrate.schema_status(database.engine)
        migrate.upgrade(database.engine, args.revision)
        after = migrate.schema_status(database.engine)
    finally:
        database.close()
    print(f"database schema: {before.current or 'empty'} -> {after.current} (head {after.head})")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every face template under the current key (FACEAUTH_TEMPLATE_KEY, or the
    development key file), reading older ones with the keys in FACEAUTH_TEMPLATE_OLD_KEYS."""
    from faceauth.service.keyrotation import rotate
    from faceauth.storage.crypto import TemplateCipher
    from faceauth.storage.stores import open_backend

    settings = get_settings()
    try:
        cipher = TemplateCipher.from_settings(settings)
        storage = open_backend(settings.resolved_database_url)
    except FaceAuthError as error:
        print(f"faceauth keys rotate: {error}", file=sys.stderr)
        return 2
    try:
        storage.prepare_schema(settings)
        report = rotate(storage, cipher)
    finally:
        storage.close()
    print(
        f"templates re-encrypted under key {report.key_id}: {report.rotated}"
        f" ({report.changed_meanwhile} changed meanwhile)"
    )
    if not report.complete:
        unknown = ", ".join(sorted(set(report.unreadable)))
        print(
            f"{len(report.unreadable)} templates are under keys that are not configured ({unknown}):"
            " add them to FACEAUTH_TEMPLATE_OLD_KEYS and run again",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """The audit log, newest first: all users, or one (by username or email)."""
    from faceauth.service.privacy import event_json
    from faceauth.storage.stores import open_backend

    settings = get_settings()
    storage = open_backend(settings.resolved_database_url)
    try:
        storage.prepare_schema(settings)
        user_id = None
        if args.user:
            user = storage.find_user_by_login(args.user)
            if user is None:
                print(f"faceauth events: no user {args.user!r}", file=sys.stderr)
                return 2
            user_id = user.id
        events = storage.list_events(user_id=user_id, limit=args.limit)
        usernames = _usernames(storage, {e.user_id for e in events if e.user_id is not None})
    finally:
        storage.close()
    if args.json:
        print(
            json.dumps(
                [
                    {**event_json(e), "user_id": e.user_id, "username": usernames.get(e.user_id or 0)}
                    for e in events
                ],
                indent=2,
            )
        )
        return 0
    for event in events:
        outcome = "ok" if event.success else "FAILED"
        score = f" similarity={event.score:.3f}" if event.score is not None else ""
        detail = f" ({event.detail})" if event.detail else ""
        print(
            f"{event.created_at.isoformat(timespec='seconds')} {event.kind:<16} {outcome:<6}"
            f" user={usernames.get(event.user_id or 0, '-')}"
            f" client={event.client or '-'}{score}{detail}"
        )
    return 0


def _usernames(storage: StorageBackend, user_ids: set[int]) -> dict[int, str]:
    """Username of each id that still has an account (a deleted account's events are unlinked)."""
    found = {}
    for user_id in user_ids:
        user = storage.get_user(user_id)
        if user is not None:
            found[user_id] = user.username
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceauth", description="Face-recognition login.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="compare the faces in two images")
    compare.add_argument("image_a")
    compare.add_argument("image_b")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.set_defaults(handler=cmd_compare)

    evaluate = commands.add_parser("eval", help="measure accuracy on a labelled image set")
    evaluate.add_argument("--images-csv", required=True, help="CSV with path,identity rows")
    evaluate.add_argument("--root", help="folder the paths are relative to (default: the CSV's)")
    evaluate.add_argument("--json", metavar="OUT", help="also write the report to this file")
    evaluate.add_argument("--plot", metavar="OUT.png", help="write ROC and score histograms")
    evaluate.add_argument("--max-impostor-pairs", type=int, default=10_000_000)
    evaluate.add_argument(
        "--bursts",
        type=int,
        metavar="N",
        help="login protocol: the CSV has a session column; bursts of N frames",
    )
    evaluate.set_defaults(handler=cmd_eval)
    cli_recognition.add_calibrate_parser(commands)

    serve = commands.add_parser("serve", help="run the web app and JSON API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (each loads the models)")
    serve.set_defaults(handler=cmd_serve)

    database = commands.add_parser("db", help="database schema")
    db_commands = database.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply pending migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    keys = commands.add_parser("keys", help="face template encryption keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_commands.add_parser("rotate", help="re-encrypt every template under the current key")
    rotate.set_defaults(handler=cmd_keys_rotate)

    events = commands.add_parser("events", help="show the audit log, newest first")
    events.add_argument("--user", metavar="USERNAME", help="only this user's events (username or email)")
    events.add_argument("--limit", type=int, default=50, help="at most this many events (default 50)")
    events.add_argument("--json", action="store_true", help="print JSON")
    events.set_defaults(handler=cmd_events)
    cli_oidc.add_commands(commands)  # faceauth clients ..., faceauth oidc rotate-key

    add_models_commands(commands)
    add_admin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from faceauth import logs

    # FACEAUTH_LOG_FORMAT everywhere; commands other than serve log warnings only, unless -v.
    settings = get_settings()
    level = "debug" if args.verbose else settings.log_level if args.command == "serve" else "warning"
    if not logging.getLogger().handlers:  # as logging.basicConfig: a host (pytest) may have set one
        logs.configure(settings.log_format, level)
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
