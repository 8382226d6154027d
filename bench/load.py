"""Load test: virtual users run the whole flow (register, log in, enroll a face from real photos,
log in, verify, add an application, list applications) against ``faceauth serve --workers 2`` on
loopback, for a fixed time. Reports p50/p95 latency per endpoint, answers by status, 5xx and
transport errors, then reads the server's database directly: every 201 left exactly one row, and no
row exists that no 201 announced (nothing lost, nothing duplicated).

The users share the loopback address, as they would behind a load balancer: the server trusts
127.0.0.1 as a proxy (FACEAUTH_TRUSTED_PROXIES) and each user sends its own X-Forwarded-For, so the
per-address rate limits apply per user as in production. Liveness is off (plain bursts).

Usage: python bench/load.py [--users 20] [--seconds 60] [--workers 2] [--json OUT]
Photos: faces/deepface_tests under FACEAUTH_TEST_DATA (default /work/shared/data)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import itertools
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PASSWORD = "violet kettle on mars"
BURST = 8
REQUEST_TIMEOUT = 120.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)  # rows announced by a 201

    def record(self, endpoint: str, started: float, response: httpx.Response) -> None:
        self.latencies[endpoint].append(time.perf_counter() - started)
        self.statuses[endpoint][response.status_code] += 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def usable_photos(data_root: Path) -> list[bytes]:
    """Photos of the person with the most photos that the quality gates accept one by one."""
    from faceauth.config import Settings
    from faceauth.vision.engine import FaceEngine

    csv_path = data_root / "faces" / "deepface_tests" / "images.csv"
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with csv_path.open(newline="") as file:
        for row in csv.DictReader(file):
            by_identity[row["identity"]].append(csv_path.parent / row["path"])
    engine = FaceEngine.load(Settings())
    for identity in sorted(by_identity, key=lambda name: -len(by_identity[name])):
        photos = [path.read_bytes() for path in by_identity[identity]]
        good = [photo for photo in photos if engine.embed_burst([photo]).embeddings]
        if len(good) >= 3:
            return good
    raise SystemExit(f"no person with three usable photos in {csv_path}")


def start_server(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    from faceauth.config import default_data_dir

    models = default_data_dir() / "models"
    if models.is_dir():
        (data_dir / "models").symlink_to(models)  # the converted FaceNet model, reused
    env = {
        **os.environ,
        "FACEAUTH_DATA_DIR": str(data_dir),
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    command = [sys.executable, "-m", "faceauth.cli", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("faceauth serve exited during start-up")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("faceauth serve did not become healthy")


async def call(
    client: httpx.AsyncClient, tally: Tally, endpoint: str, method: str, url: str, **kwargs: object
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError as error:
        tally.transport_errors[f"{endpoint}: {type(error).__name__}"] += 1
        return None
    tally.record(endpoint, started, response)
    return response


async def user(number: int, base_url: str, frames: list[str], deadline: float, tally: Tally) -> None:
    """One virtual user: whole flows, one after another, until the deadline."""
    headers = {"X-Forwarded-For": f"10.0.{number // 250}.{number % 250 + 1}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
        for round_number in itertools.count():
            if time.monotonic() >= deadline:
                return
            username = f"load{number}_{round_number}_{os.getpid()}"
            body = {
                "name": f"Load User {number}",
                "username": username,
                "email": f"{username}@example.org",
                "phone": "+1 202 555 0143",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            }
            registered = await call(client, tally, "register", "POST", "/api/v1/users", json=body)
            if registered is None or registered.status_code != 201:
                continue
            tally.created["users"] += 1
            credentials = {"login": username, "password": PASSWORD}
            first = await call(client, tally, "login", "POST", "/api/v1/auth/login", json=credentials)
            if first is None or first.status_code != 200:
                continue
            auth = {"Authorization": f"Bearer {first.json()['access_token']}"}
            enrolled = await call(
                client, tally, "enroll", "POST", "/api/v1/face/enroll", json={"frames": frames}, headers=auth
            )
            if enrolled is None or enrolled.status_code != 201:
                continue
            tally.created["face_templates"] += 1
            second = await call(client, tally, "login", "POST", "/api/v1/auth/login", json=credentials)
            if second is None or second.status_code != 200:
                continue
            auth = {"Authorization": f"Bearer {second.json()['access_token']}"}
            verified = await call(
                client, tally, "verify", "POST", "/api/v1/face/verify", json={"frames": frames}, headers=auth
            )
            if verified is None or verified.status_code != 200:
                continue
            auth = {"Authorization": f"Bearer {verified.json()['access_token']}"}
            app = {"name": f"App of {username}", "url": "https://example.org/"}
            added = await call(client, tally, "apps_add", "POST", "/api/v1/apps", json=app, headers=auth)
            if added is not None and added.status_code == 201:
                tally.created["apps"] += 1
            await call(client, tally, "apps_list", "GET", "/api/v1/apps", headers=auth)


def database_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        counts = {
            table: int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("users", "face_templates", "apps")
        }
        counts["duplicate_usernames"] = int(
            connection.execute("SELECT COUNT(*) - COUNT(DISTINCT username) FROM users").fetchone()[0]
        )
        counts["users_with_two_templates"] = int(
            connection.execute(
                "SELECT COUNT(*) FROM "
                "(SELECT user_id FROM face_templates GROUP BY user_id HAVING COUNT(*) > 1)"
            ).fetchone()[0]
        )
    return counts


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(
    tally: Tally, counts: dict[str, int], seconds: float, users: int, workers: int
) -> dict[str, object]:
    endpoints = {}
    for endpoint, latencies in sorted(tally.latencies.items()):
        endpoints[endpoint] = {
            "requests": len(latencies),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
            "statuses": dict(sorted(tally.statuses[endpoint].items())),
        }
    server_errors = sum(
        count for statuses in tally.statuses.values() for status, count in statuses.items() if status >= 500
    )
    lost_or_duplicated = {
        table: {"announced": tally.created[table], "in_database": counts[table]}
        for table in ("users", "face_templates", "apps")
        if tally.created[table] != counts[table]
    }
    return {
        "users": users,
        "workers": workers,
        "seconds": round(seconds, 1),
        "flows_completed": tally.created["apps"],
        "endpoints": endpoints,
        "server_errors": server_errors,
        "transport_errors": dict(tally.transport_errors),
        "database": counts,
        "lost_or_duplicated": lost_or_duplicated,
        "ok": server_errors == 0
        and not tally.transport_errors
        and not lost_or_duplicated
        and counts["duplicate_usernames"] == 0
        and counts["users_with_two_templates"] == 0,
    }


async def run_users(base_url: str, frames: list[str], users: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(user(number, base_url, frames, deadline, tally) for number in range(users)))
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", metavar="OUT", help="also write the report here")
    args = parser.parse_args()

    data_root = Path(os.environ.get("FACEAUTH_TEST_DATA", "/work/shared/data"))
    photos = usable_photos(data_root)
    frames = [base64.b64encode(photo).decode() for photo in itertools.islice(itertools.cycle(photos), BURST)]
    with tempfile.TemporaryDirectory(prefix="faceauth-load-") as folder:
        data_dir = Path(folder)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(data_dir, port, args.workers)
        try:
            wait_healthy(base_url, server)
            print(
                f"{args.users} users for {args.seconds:.0f} s against {args.workers} workers", file=sys.stderr
            )
            started = time.monotonic()
            tally = asyncio.run(run_users(base_url, frames, args.users, args.seconds))
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        result = report(tally, database_counts(data_dir / "faceauth.db"), elapsed, args.users, args.workers)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
