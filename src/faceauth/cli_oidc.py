"""``faceauth clients ...`` and ``faceauth oidc rotate-key``: the OpenID Connect provider's
administration (docs/oidc.md). ``add_commands`` hooks them into the main parser."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from faceauth.config import get_settings
from faceauth.domain import FaceAuthError
from faceauth.storage.oidc_interface import OidcClient


def _client_json(client: OidcClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "type": "public" if client.is_public else "confidential",
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "created_at": client.created_at.isoformat(timespec="seconds"),
    }


def _run_with_clients(args: argparse.Namespace) -> int:
    from faceauth import composition

    settings = get_settings()
    try:
        stores = composition.open_database(settings)
    except FaceAuthError as error:
        print(f"faceauth clients: {error}", file=sys.stderr)
        return 2
    try:
        return int(args.clients_handler(args, composition.build_oidc_clients(stores)))
    except FaceAuthError as error:
        print(f"faceauth clients: {error}", file=sys.stderr)
        return 2
    finally:
        stores.close()


def _add(args: argparse.Namespace, clients: Any) -> int:
    created = clients.add(args.name, args.redirect_uri, args.post_logout_redirect_uri or [], args.public)
    body = _client_json(created.client)
    if created.secret is not None:
        body["client_secret"] = created.secret
    print(json.dumps(body, indent=2))
    if created.secret is not None:
        print("The client secret is shown only now: store it in the application's settings.", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, clients: Any) -> int:
    listed = [_client_json(client) for client in clients.list()]
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    for client in listed:
        uris = " ".join(client["redirect_uris"])
        print(f"{client['client_id']}  {client['type']:<12} {client['name']}  {uris}")
    return 0


def _show(args: argparse.Namespace, clients: Any) -> int:
    print(json.dumps(_client_json(clients.get(args.client_id)), indent=2))
    return 0


def _rotate_secret(args: argparse.Namespace, clients: Any) -> int:
    secret = clients.rotate_secret(args.client_id)
    print(json.dumps({"client_id": args.client_id, "client_secret": secret}, indent=2))
    print("The new secret is shown only now; the old one no longer works.", file=sys.stderr)
    return 0


def _delete(args: argparse.Namespace, clients: Any) -> int:
    clients.delete(args.client_id)
    print(f"client {args.client_id} deleted; its tokens no longer work")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """A new signing key (new kid) signs from now on; older keys stay published until their tokens
    have expired, and keys past that are deleted."""
    from faceauth.composition import oidc_keyring

    keyring = oidc_keyring(get_settings())
    try:
        key, deleted = keyring.rotate(args.alg)
    except (FaceAuthError, OSError) as error:
        print(f"faceauth oidc rotate-key: {error}", file=sys.stderr)
        return 2
    published = [k.kid for k in keyring.published()]
    created = datetime.fromtimestamp(key.created_at, UTC).isoformat(timespec="seconds")
    print(
        json.dumps(
            {
                "kid": key.kid,
                "alg": key.alg,
                "created_at": created,
                "published": published,
                "deleted": deleted,
            },
            indent=2,
        )
    )
    return 0


def add_commands(commands: Any) -> None:
    clients = commands.add_parser("clients", help="OpenID Connect relying parties")
    clients.set_defaults(handler=_run_with_clients)
    sub = clients.add_subparsers(dest="clients_command", required=True)

    add = sub.add_parser(
        "add", help="register a relying party (a confidential client's secret is shown once)"
    )
    add.add_argument("--name", required=True)
    add.add_argument("--redirect-uri", action="append", required=True, help="exact; repeat for more")
    add.add_argument("--post-logout-redirect-uri", action="append", help="exact; repeat for more")
    add.add_argument("--public", action="store_true", help="no secret (single-page or native app; PKCE only)")
    add.set_defaults(clients_handler=_add)

    listing = sub.add_parser("list", help="all relying parties")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(clients_handler=_list)

    for name, handler, text in (
        ("show", _show, "one relying party"),
        ("rotate-secret", _rotate_secret, "a new secret (shown once); the old one stops working"),
        ("delete", _delete, "remove a relying party with its consents and tokens"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("client_id")
        command.set_defaults(clients_handler=handler)

    oidc = commands.add_parser("oidc", help="OpenID Connect provider")
    oidc_sub = oidc.add_subparsers(dest="oidc_command", required=True)
    rotate = oidc_sub.add_parser("rotate-key", help="add a new signing key (new kid); retire the old one")
    rotate.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    rotate.set_defaults(handler=cmd_rotate_key)
