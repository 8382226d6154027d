"""Registrations and face verifications per second through ``faceauth serve --workers N`` on loopback,
against one database (PostgreSQL by default). Starts the server, runs each phase for a fixed time
with a pool of concurrent clients, stops the server, and prints JSON. Bounded: it stops by itself.

Usage:
  FACEAUTH_TEST_POSTGRES_URL=postgresql+psycopg://... python bench/throughput.py \\
      [--workers 2] [--clients 4] [--seconds 20] [--json OUT]

Photos come from faces/deepface_tests in FACEAUTH_TEST_DATA (default /work/shared/data); a burst is
one person's photos repeated to 8 frames. Liveness is off (it is measured in bench/liveness.py)."""

from __future__ import annotations

import argparse
import base64
import csv
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct horse battery staple 42"
BURST = 8
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_bursts(data_root: Path) -> list[list[str]]:
    """One base64 burst per person with at least three photos, most photos first."""
    csv_path = data_root / "faces" / "deepface_tests" / "images.csv"
    photos: dict[str, list[Path]] = defaultdict(list)
    with csv_path.open(newline="") as file:
        for row in csv.DictReader(file):
            photos[row["identity"]].append(csv_path.parent / row["path"])
    people = sorted((paths for paths in photos.values() if len(paths) >= 3), key=len, reverse=True)
    return [
        [base64.b64encode(path.read_bytes()).decode() for path in itertools.islice(itertools.cycle(p), BURST)]
        for p in people
    ]


def start_server(database_url: str, workers: int, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    from faceauth.config import default_data_dir

    models = default_data_dir() / "models"
    if models.is_dir():
        (data_dir / "models").symlink_to(models)  # the converted FaceNet model, not converted again
    env = {
        **os.environ,
        "FACEAUTH_DATA_DIR": str(data_dir),
        "FACEAUTH_DATABASE_URL": database_url,
        "FACEAUTH_SECRET_KEY": "throughput-bench-secret-key-0123456789-0123456789",
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_RATE_LIMIT_REQUESTS": "1000000",  # one client address sends everything here
    }
    command = [sys.executable, "-m", "faceauth.cli", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_healthy(process: subprocess.Popen[bytes], base_url: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"faceauth serve exited: {error}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("faceauth serve did not become healthy")


def run_phase(clients: int, seconds: float, request: Any) -> dict[str, Any]:
    """``request(client, index) -> status`` in a loop on each client until the time is up."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    lock = threading.Lock()
    counter = itertools.count()

    def loop(base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=120) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                status = request(client, next(counter))
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] += 1
                    latencies.append(elapsed)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(loop, [BASE_URL] * clients))
    wall = time.monotonic() - started
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "requests": sum(statuses.values()),
        "ok": ok,
        "statuses": dict(statuses),
        "wall_s": round(wall, 2),
        "per_second": round(ok / wall, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(1000 * statistics.quantiles(latencies, n=20)[-1], 1) if len(latencies) > 1 else None,
    }


BASE_URL = ""


def registration(tag: str) -> Any:
    def request(client: httpx.Client, index: int) -> int:
        username = f"bench{tag}_{index}"
        body = {
            "name": "Bench User",
            "username": username,
            "email": f"{username}@example.org",
            "phone": "+1 202 555 0143",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
        return client.post("/api/v1/users", json=body).status_code

    return request


def enrolled_tokens(
    client: httpx.Client, bursts: list[list[str]], tag: str, count: int
) -> tuple[list[str], list[str], list[str]]:
    """``count`` accounts enrolled with the first burst that enrolls: tokens, the burst, usernames."""
    for frames in bursts:
        tokens = []
        for index in range(count):
            username = f"verify{tag}_{index}"
            body = {
                "name": "Bench Verifier",
                "username": username,
                "email": f"{username}@example.org",
                "phone": "+1 202 555 0143",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            }
            if client.post("/api/v1/users", json=body).status_code != 201:
                raise SystemExit("could not register the verification accounts")
            login = client.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
            token = login.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            if (
                client.post("/api/v1/face/enroll", json={"frames": frames}, headers=headers).status_code
                != 201
            ):
                break
            tokens.append(token)
        if len(tokens) == count:
            return tokens, frames, [f"verify{tag}_{index}" for index in range(count)]
        tag += "x"
    raise SystemExit("no person in the photo set enrolls")


def main() -> int:
    global BASE_URL
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("FACEAUTH_TEST_POSTGRES_URL"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url or set FACEAUTH_TEST_POSTGRES_URL")
    data_root = Path(os.environ.get("FACEAUTH_TEST_DATA", "/work/shared/data"))
    bursts = load_bursts(data_root)
    tag = str(int(time.time()))
    port = free_port()
    BASE_URL = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="faceauth-throughput-") as data_dir:
        process = start_server(args.database_url, args.workers, port, Path(data_dir))
        try:
            start_s = wait_healthy(process, BASE_URL)
            print(
                f"server healthy after {start_s:.1f} s; registrations for {args.seconds} s", file=sys.stderr
            )
            registrations = run_phase(args.clients, args.seconds, registration(tag))
            with httpx.Client(base_url=BASE_URL, timeout=120) as client:
                _tokens, frames, usernames = enrolled_tokens(client, bursts, tag, args.clients)
            print(f"verifications for {args.seconds} s", file=sys.stderr)

            def verification(client: httpx.Client, index: int) -> int:
                """A whole login: the password step (a password-stage token is good for one face
                attempt), then the 8-frame face verification."""
                login = {"login": usernames[index % len(usernames)], "password": PASSWORD}
                token = client.post("/api/v1/auth/login", json=login).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                return client.post(
                    "/api/v1/face/verify", json={"frames": frames}, headers=headers
                ).status_code

            verifications = run_phase(args.clients, args.seconds, verification)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    report = {
        "database": args.database_url.split("://")[0],
        "workers": args.workers,
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "cpu_count": os.cpu_count(),
        "registrations": registrations,
        "logins_password_and_8_frame_face": verifications,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
