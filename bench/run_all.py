"""Every benchmark in one run, results into bench/results/ (not committed): accuracy on each
shared set, per-stage and per-burst speed beside the peer pipeline, and the 8-frame verification
over HTTP. Usage: python bench/run_all.py [--skip-lfw]"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-lfw", action="store_true", help="skip the 4,151-image LFW impostor set")
    args = parser.parse_args()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    runs = [
        ["speed.py", "--json", str(results / "speed.json")],
        ["http_verify.py", "--json", str(results / "http_verify.json")],
        ["accuracy.py", "--json", str(results / "accuracy.json"), *(["--skip-lfw"] if args.skip_lfw else [])],
    ]
    for script, *options in runs:
        print(f"== {script}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(HERE / script), *options], check=True, stdout=subprocess.DEVNULL)
    print(f"results in {results}", file=sys.stderr)


if __name__ == "__main__":
    main()
