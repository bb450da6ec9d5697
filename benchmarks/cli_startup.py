"""How long the command line takes to answer, as a whole process: `main.py --help` and a
`replies classify`, against the bare interpreter (`python -c pass`) measured in the same run.

Each command runs once to warm the file cache, then RUNS times in turn (A B C A B C ...), so a
machine that slows down part-way slows all three alike; best and median are printed. Goals: --help
under 1 s, classify under 2 s (both were 3 to 12 s while the command line imported XGBoost,
scikit-learn, pandas and WeasyPrint before parsing its arguments).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import ROOT, report  # noqa: E402

RUNS = 7
GOALS = {"--help": 1.0, "replies classify": 2.0}


def commands() -> dict[str, list[str]]:
    main = str(ROOT / "main.py")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "--help": [sys.executable, main, "--help"],
        "replies classify": [
            sys.executable,
            main,
            "replies",
            "classify",
            "je paierai le 15 mars",
            "--lang",
            "fr",
            "--now",
            "2026-03-02T09:00:00Z",
        ],
    }


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
        env["DUNNING_VAR_DIR"] = str(Path(scratch) / "var")
        runs = commands()
        for argv in runs.values():
            timed(argv, env, scratch)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(RUNS):
            for name, argv in runs.items():
                times[name].append(timed(argv, env, scratch))
    floor = statistics.median(times["python -c pass"])
    rows = []
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"  goal < {goal:.0f} s: {'met' if median < goal else 'NOT met'}"
        rows.append(
            (name, f"best {best:.2f} s, median {median:.2f} s ({median / floor:.1f}x the bare interpreter){verdict}")
        )
    report(f"command-line start-up, {RUNS} runs each after a warm-up", rows)


if __name__ == "__main__":
    main()
