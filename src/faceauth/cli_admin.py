"""``faceauth users list|show|unlock|disable|enable|delete USER`` and ``faceauth face reset USER``.

USER is a username or an email address. Every change is audited (``service.admin``). Deleting an
account and resetting a face ask for confirmation on the terminal unless ``--yes`` is given; without
a terminal to ask on (CI, cron) they refuse rather than guess."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from faceauth.config import get_settings
from faceauth.domain import FaceAuthError

if TYPE_CHECKING:
    from faceauth.service.admin import AdminService

EXIT_NOT_CONFIRMED = 1
EXIT_ERROR = 2


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _with_admin(action: Callable[[AdminService], int]) -> int:
    """Opens the database through the composition root (schema brought up to date as at start-up;
    an SQL database only), runs ``action`` with an AdminService, closes. Errors (unknown user,
    MongoDB, schema behind in production) exit 2."""
    from faceauth import composition

    settings = get_settings()
    try:
        stores = composition.open_database(settings)
    except FaceAuthError as error:
        print(f"faceauth: {error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return action(composition.build_admin(stores, _actor()))
    except FaceAuthError as error:
        print(f"faceauth: {error}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        stores.close()


def confirm(question: str, assume_yes: bool) -> bool:
    """True with ``--yes``; otherwise asks on stdin, and only 'y' or 'yes' confirms (no stdin: no)."""
    if assume_yes:
        return True
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print("\nno answer (no terminal?): nothing done; pass --yes to confirm", file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_users_list(args: argparse.Namespace) -> int:
    from faceauth.service.admin import summary_json

    def run(service: AdminService) -> int:
        summaries = service.list_users()
        if args.json:
            print(json.dumps([summary_json(s) for s in summaries], indent=2))
            return 0
        print(f"{'id':>5}  {'username':<32} {'email':<40} {'face':<5} {'state'}")
        for s in summaries:
            flags = ("disabled" if s.user.disabled else "", "locked" if s.locked else "")
            state = ", ".join(flag for flag in flags if flag)
            face = "yes" if s.face_enrolled else "no"
            print(f"{s.user.id:>5}  {s.user.username:<32} {s.user.email:<40} {face:<5} {state or 'active'}")
        print(f"{len(summaries)} accounts")
        return 0

    return _with_admin(run)


def cmd_users_show(args: argparse.Namespace) -> int:
    from faceauth.service.admin import detail_json

    def run(service: AdminService) -> int:
        detail = detail_json(service.show(args.user))
        if args.json:
            print(json.dumps(detail, indent=2))
        else:
            for key, value in detail.items():
                print(f"{key:<20} {value if value is not None else '-'}")
        return 0

    return _with_admin(run)


def cmd_users_unlock(args: argparse.Namespace) -> int:
    def run(service: AdminService) -> int:
        lifted = service.unlock(args.user)
        print(f"{args.user}: {lifted} lock-outs lifted, failed attempts forgotten")
        return 0

    return _with_admin(run)


def cmd_users_disable(args: argparse.Namespace) -> int:
    def run(service: AdminService) -> int:
        changed = service.disable(args.user)
        print(f"{args.user}: {'disabled' if changed else 'was already disabled'}")
        return 0

    return _with_admin(run)


def cmd_users_enable(args: argparse.Namespace) -> int:
    def run(service: AdminService) -> int:
        changed = service.enable(args.user)
        print(f"{args.user}: {'enabled' if changed else 'was not disabled'}")
        return 0

    return _with_admin(run)


def cmd_users_delete(args: argparse.Namespace) -> int:
    def run(service: AdminService) -> int:
        user = service.find(args.user)
        question = (
            f"Delete the account {user.username} (id {user.id}, {user.email}) with its face template and"
            " apps? This cannot be undone."
        )
        if not confirm(question, args.yes):
            print("not deleted", file=sys.stderr)
            return EXIT_NOT_CONFIRMED
        service.delete(args.user)
        print(f"{user.username}: deleted")
        return 0

    return _with_admin(run)


def cmd_face_reset(args: argparse.Namespace) -> int:
    def run(service: AdminService) -> int:
        user = service.find(args.user)
        question = f"Delete the face template of {user.username} (id {user.id})? They will enroll again."
        if not confirm(question, args.yes):
            print("not reset", file=sys.stderr)
            return EXIT_NOT_CONFIRMED
        deleted = service.reset_face(args.user)
        print(f"{user.username}: {'face template deleted' if deleted else 'had no face template'}")
        return 0

    return _with_admin(run)


def add_admin_commands(commands: Any) -> None:
    """``commands`` is the top-level parser's subparsers object."""
    users = commands.add_parser("users", help="accounts: list, show, unlock, disable, enable, delete")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    listing = users_commands.add_parser("list", help="every account with its state")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_users_list)
    show = users_commands.add_parser("show", help="one account: details, face, lock-outs")
    show.add_argument("user", metavar="USER", help="username or email")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_users_show)
    for name, handler, text in (
        ("unlock", cmd_users_unlock, "lift the account's lock-outs (password and face)"),
        ("disable", cmd_users_disable, "refuse the account's logins and end its sessions"),
        ("enable", cmd_users_enable, "let a disabled account log in again"),
    ):
        command = users_commands.add_parser(name, help=text)
        command.add_argument("user", metavar="USER", help="username or email")
        command.set_defaults(handler=handler)
    delete = users_commands.add_parser("delete", help="delete the account, its face template and apps")
    delete.add_argument("user", metavar="USER", help="username or email")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=cmd_users_delete)

    face = commands.add_parser("face", help="face templates")
    face_commands = face.add_subparsers(dest="face_command", required=True)
    reset = face_commands.add_parser("reset", help="delete a user's face template (they enroll again)")
    reset.add_argument("user", metavar="USER", help="username or email")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=cmd_face_reset)
