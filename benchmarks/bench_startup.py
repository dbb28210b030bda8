"""Standalone bundle figures: size on disk and start time to the first painted window.

Sizes: the bundle folder (sum of file sizes) and the tarball, in MB (10^6 bytes).

Start time: the bundle is launched with ``CRYOPLAN_EXIT_AFTER_FIRST_PAINT=1``, so
the window quits right after its first paint and prints the seconds since its
process started (read from /proc; cryoplan_app/qt/app.py). The wall time from
spawning to exit is reported too. Every run uses a fresh user profile (a
temporary HOME) holding no autosave to offer, with no Python on the PATH:

* first launch: the profile is empty (matplotlib builds its font list);
* warm: the same profile again, files in the page cache;
* cold: the page cache dropped before each run (``echo 3 > /proc/sys/vm/drop_caches``,
  needs root; skipped otherwise), the profile's caches kept: a workstation's
  first start of the day.

Needs a display: ``xvfb-run -a -s "-screen 0 1600x1000x24" python
benchmarks/bench_startup.py [--bundle dist/cryoplan-planner] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_COLD_S = 5.0
MARKER = re.compile(r"first paint ([0-9.]+|unknown) s after process start")
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def folder_size_mb(folder: Path) -> float:
    """Sum of the sizes of the regular files under ``folder``, in MB."""
    return (
        sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    )


def drop_page_cache() -> bool:
    """Write back and drop the page cache; False when not allowed (not root)."""
    if not os.access(DROP_CACHES, os.W_OK):
        return False
    os.sync()
    DROP_CACHES.write_text("3\n")
    return True


def launch_once(executable: Path, home: Path) -> tuple[float, float]:
    """Seconds from process start to first paint (as the app reports), and wall to exit."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "DISPLAY": os.environ["DISPLAY"],
        "CRYOPLAN_EXIT_AFTER_FIRST_PAINT": "1",
    }
    if "XAUTHORITY" in os.environ:
        env["XAUTHORITY"] = os.environ["XAUTHORITY"]
    started = time.perf_counter()
    result = subprocess.run(
        [str(executable)], env=env, capture_output=True, text=True, timeout=300, cwd=home
    )
    wall_s = time.perf_counter() - started
    match = MARKER.search(result.stdout)
    if result.returncode != 0 or match is None or match.group(1) == "unknown":
        raise SystemExit(
            f"{executable} exited with {result.returncode} without its first-paint line:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return float(match.group(1)), wall_s


def _summary(label: str, runs: list[tuple[float, float]]) -> str:
    paint = [p for p, _ in runs]
    wall = [w for _, w in runs]
    return (
        f"{label:<13} first paint median {statistics.median(paint):5.2f} s "
        f"(min {min(paint):.2f}, max {max(paint):.2f}); wall to exit median "
        f"{statistics.median(wall):5.2f} s; {len(runs)} run(s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("dist/cryoplan-planner"))
    parser.add_argument("--tarball", type=Path, help="default: dist/cryoplan-*-linux-*.tar.gz")
    parser.add_argument("--runs", type=int, default=3, help="warm and cold runs each")
    args = parser.parse_args(argv)
    executable = (args.bundle / "cryoplan-planner").resolve()
    if not executable.is_file():
        parser.error(f"--bundle {args.bundle}: no cryoplan-planner executable; run make package")
    if not os.environ.get("DISPLAY"):
        parser.error("no DISPLAY: run under xvfb-run -a -s '-screen 0 1600x1000x24'")
    print(f"bundle folder {args.bundle}: {folder_size_mb(args.bundle):.0f} MB")
    tarballs = (
        [args.tarball]
        if args.tarball
        else sorted(args.bundle.parent.glob("cryoplan-*-linux-*.tar.gz"))
    )
    for tarball in tarballs:
        print(f"tarball {tarball}: {tarball.stat().st_size / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="cryoplan-startup-") as home_text:
        home = Path(home_text)
        print(_summary("first launch", [launch_once(executable, home)]), flush=True)
        warm = [launch_once(executable, home) for _ in range(args.runs)]
        print(_summary("warm", warm), flush=True)
        cold = []
        for _ in range(args.runs):
            if not drop_page_cache():
                print("cold: skipped (dropping the page cache needs root)")
                break
            cold.append(launch_once(executable, home))
        if cold:
            print(_summary("cold", cold))
            worst = max(p for p, _ in cold)
            verdict = "met" if worst <= GOAL_COLD_S else "MISSED"
            print(f"goal: cold start <= {GOAL_COLD_S:g} s: {verdict} (worst {worst:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
