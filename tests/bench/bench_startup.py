"""Benchmark CLI start-up: `pgadvisor --help` wall time, and what the imports cost.

Run on purpose (not collected by pytest):

    python tests/bench/bench_startup.py [--runs 20]

Measures the median wall time of `--help` started three ways (the installed console script, the
same through a pyenv shim when there is one, and `python -m pgadvisor`), the same for
`collect --help` (which resolves the command's parameters), and then lists the top
`python -X importtime` offenders (cumulative microseconds, median of 5 runs) for `--help` and for the
imports that `pgadvisor collect` performs before it connects.

Goal (issue 2): `pgadvisor --help` <= 0.3 s.  No server needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_S = 0.3


def console_script() -> str | None:
    """The real console script next to this interpreter (not a pyenv shim)."""
    cand = Path(sys.executable).parent / "pgadvisor"
    return str(cand) if cand.exists() else None


def wall(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        out.append(time.perf_counter() - t0)
        if res.returncode not in (0,):
            raise SystemExit(f"{' '.join(cmd)} exited {res.returncode}")
    return out


def importtime(cmd_args: list[str], runs: int = 5, expect_fail: bool = False) -> dict[str, tuple[int, int]]:
    """module -> (median self us, median cumulative us) over `runs` runs of `python -X importtime`."""
    samples: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-X", "importtime", *cmd_args], capture_output=True, text=True,
                             cwd=ROOT)
        if res.returncode != 0 and not expect_fail:
            raise SystemExit(f"importtime run failed: {res.stderr[-500:]}")
        for line in res.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cum_us, name = line[len("import time:"):].split("|")
            samples[name.rstrip()[1:]].append((int(self_us), int(cum_us)))
    return {
        name: (int(statistics.median(s for s, _ in v)), int(statistics.median(c for _, c in v)))
        for name, v in samples.items()
    }


def top_level(times: dict[str, tuple[int, int]], n: int) -> list[tuple[str, int, int]]:
    """Modules imported at the outermost level (no indentation), by cumulative time."""
    rows = [(name, s, c) for name, (s, c) in times.items() if name and not name.startswith(" ")]
    return sorted(rows, key=lambda r: -r[2])[:n]


def by_package(times: dict[str, tuple[int, int]]) -> list[tuple[str, int]]:
    """Self time summed per top-level package (what each dependency costs in total)."""
    tot: dict[str, int] = defaultdict(int)
    for name, (s, _) in times.items():
        tot[name.strip().split(".")[0]] += s
    return sorted(tot.items(), key=lambda kv: -kv[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()

    variants: list[tuple[str, list[str]]] = []
    script = console_script()
    if script:
        variants.append(("console script `pgadvisor --help`", [script, "--help"]))
    shim = shutil.which("pgadvisor")
    if shim and script and Path(shim).resolve() != Path(script).resolve():
        variants.append((f"via PATH ({shim}) `pgadvisor --help`", [shim, "--help"]))
    variants.append(("`python -m pgadvisor --help`", [sys.executable, "-m", "pgadvisor", "--help"]))
    variants.append(("`python -c pass` (interpreter floor)", [sys.executable, "-c", "pass"]))
    variants.append(("`python -m pgadvisor --version`", [sys.executable, "-m", "pgadvisor", "--version"]))
    if script:
        variants.append(("console script `pgadvisor collect --help`", [script, "collect", "--help"]))

    wall(variants[0][1], 2)  # warm the page cache / .pyc files
    # round-robin over the variants, so that the drifting load of a shared machine hits all alike
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(args.runs):
        for label, cmd in variants:
            times[label] += wall(cmd, 1)
    results = [(label, statistics.median(xs), min(xs), max(xs)) for label, xs in times.items()]

    help_imports = importtime(["-m", "pgadvisor", "--help"])
    with tempfile.TemporaryDirectory(prefix="pgadvisor-bench-") as tmp:
        # a DSN that fails at once: every import `collect` needs happens before it connects
        collect_imports = importtime(
            ["-m", "pgadvisor", "collect", "--dsn", f"host={tmp}/nosocket port=1", "--store", f"{tmp}/s.sqlite"],
            expect_fail=True)

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                      cwd=ROOT).stdout.strip()
    print(f"load average (1/5/15 min) at the end: {os.getloadavg()} on {os.cpu_count()} cores; git HEAD {head}")
    print(f"bench_startup: median of {args.runs} runs, nproc={os.cpu_count()}, python {sys.version.split()[0]}")
    w = max(len(r[0]) for r in results)
    print(f"{'command':<{w}} | median s |  min s |  max s | goal <= {GOAL_S} s")
    print(f"{'-' * w}-|----------|--------|--------|--------------")
    for label, m, lo, hi in results:
        met = ("yes" if m <= GOAL_S else "NO") if "--help" in label and "collect" not in label else ""
        print(f"{label:<{w}} | {m:8.3f} | {lo:6.3f} | {hi:6.3f} | {met}")

    for title, times in (("`pgadvisor --help`", help_imports),
                         ("`pgadvisor collect` (imports before connecting)", collect_imports)):
        total = sum(s for s, _ in times.values())
        print(f"\n-X importtime, {title}: {total / 1000:.0f} ms of imports in total (median of 5 runs)")
        print("  top-level imports by cumulative ms:")
        for name, _s, c in top_level(times, 8):
            print(f"    {c / 1000:7.1f}  {name}")
        print("  self ms per package:")
        for name, s in by_package(times)[:10]:
            print(f"    {s / 1000:7.1f}  {name}")


if __name__ == "__main__":
    main()
