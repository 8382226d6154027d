"""An 8-frame face verification over HTTP on loopback (``faceauth serve``, real models, SQLite),
beside the peer pipeline's in-process time for the same 8 frames, in the same run.

Usage: python bench/http_verify.py [--rounds N] [--json OUT]"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile_ms
from speed import frames, in_subprocess

PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FACEAUTH_DATA_DIR": str(data_dir),
        # this measures matching; the challenge step is measured in bench/liveness.py
        "FACEAUTH_LIVENESS_REQUIRED": "false",
    }
    command = [sys.executable, "-m", "faceauth.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("server did not become healthy")


def as_payload(burst: list[bytes]) -> dict[str, list[str]]:
    return {"frames": [base64.b64encode(frame).decode() for frame in burst]}


def password_token(client: httpx.Client) -> str:
    response = client.post("/api/v1/auth/login", json={"login": "benchuser", "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def measure(rounds: int) -> dict[str, object]:
    burst = frames(8)
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        server = start_server(Path(data_dir), port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                client.post(
                    "/api/v1/users",
                    json={
                        "name": "Bench User",
                        "username": "benchuser",
                        "email": "bench@example.org",
                        "phone": "+14155550123",
                        "password": PASSWORD,
                        "password_confirm": PASSWORD,
                    },
                ).raise_for_status()
                headers = {"Authorization": f"Bearer {password_token(client)}"}
                client.post("/api/v1/face/enroll", json=as_payload(burst), headers=headers).raise_for_status()
                timings = []
                for _ in range(rounds):
                    headers = {"Authorization": f"Bearer {password_token(client)}"}
                    started = time.perf_counter()
                    response = client.post("/api/v1/face/verify", json=as_payload(burst), headers=headers)
                    timings.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(f"verify answered {response.status_code}: {response.text}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "verify_http_ms_median": percentile_ms(timings, 50),
        "verify_http_ms_p95": percentile_ms(timings, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    ours = measure(args.rounds)
    peer = in_subprocess("peer", 16)
    report = {
        "faceauth_http": ours,
        "peer_in_process_burst8_ms_median": peer["burst8_ms_median"],
        "ratio_http_to_peer": round(
            float(ours["verify_http_ms_median"]) / float(peer["burst8_ms_median"]), 3
        ),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
