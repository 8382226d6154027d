"""An 8-frame face verification over HTTP on loopback (``faceauth serve``, real models, SQLite),
beside the peer pipeline's in-process time for the same 8 frames, in the same run.

Wall time, and CPU time: the server process's CPU (every thread, from /proc) spent on each verify,
against the peer's process CPU for its burst. On a shared, loaded machine the CPU times are the
fairer comparison (wall time also counts waiting for the cores).

Usage: python bench/http_verify.py [--rounds N] [--models JSON] [--json OUT]"""

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


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process, all its threads (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(data_dir: Path, port: int, models: str | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **({"FACEAUTH_RECOGNITION_MODELS": models} if models else {}),
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


def measure(rounds: int, models: str | None = None) -> dict[str, object]:
    burst = frames(8)
    cpu = []
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        server = start_server(Path(data_dir), port, models)
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
                    payload = as_payload(burst)
                    started, cpu_before = time.perf_counter(), process_cpu_s(server.pid)
                    response = client.post("/api/v1/face/verify", json=payload, headers=headers)
                    timings.append(time.perf_counter() - started)
                    cpu.append(process_cpu_s(server.pid) - cpu_before)
                    if response.status_code != 200:
                        raise RuntimeError(f"verify answered {response.status_code}: {response.text}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "verify_http_ms_median": percentile_ms(timings, 50),
        "verify_http_ms_p95": percentile_ms(timings, 95),
        "verify_server_cpu_ms_median": percentile_ms(cpu, 50),
        "models": models or "default",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--models", help="FACEAUTH_RECOGNITION_MODELS, e.g. '[\"sface\"]' (default: served)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    ours = measure(args.rounds, args.models)
    peer = in_subprocess("peer", 16)
    report = {
        "faceauth_http": ours,
        "peer_in_process_burst8_ms_median": peer["burst8_ms_median"],
        "peer_in_process_burst8_cpu_ms_median": peer["burst8_cpu_ms_median"],
        "ratio_http_to_peer": round(
            float(ours["verify_http_ms_median"]) / float(peer["burst8_ms_median"]), 3
        ),
        "ratio_server_cpu_to_peer_cpu": round(
            float(ours["verify_server_cpu_ms_median"]) / float(peer["burst8_cpu_ms_median"]), 3
        ),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
