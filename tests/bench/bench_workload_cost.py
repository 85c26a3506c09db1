"""Benchmark the cost of `pgadvisor workload`, `anomalies` and `report` over 30 days × 1,000 templates, beside
the same commands of an earlier revision (the code before issue 12b's cost work), in one run.

Run on purpose (not collected by pytest):

    python tests/bench/bench_workload_cost.py [--store PATH] [--before REV] [--repeat 1] [--only NAME ...]

The store: `--store`, else tests/bench/synth_store.py's 30-day × 1,000-template store of bench_anomalies.py
(seed 1, in /tmp/pgadvisor-bench-anomalies; generated when absent, ~5 min). Windows are set from the store's own
end, so a store generated yesterday is read over the same 30 days. `--before REV` (default BEFORE_REV) is
unpacked with `git archive` and its CLI run from there (`--before none`: ours only). Each command runs in a
subprocess, as a user runs it; printed per run: wall seconds, CPU seconds (user + sys of the process and its
worker processes: resource.getrusage(RUSAGE_CHILDREN)) and the load average before it. On a shared machine wall
time follows the load; CPU time is the figure to compare.

Goals (issue 12): workload and anomalies <= 30 s, report <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# the last commit before issue 12b's cost work (texts parsed while the series is read, lazy cause counters)
BEFORE_REV = "bc353c2"
STORE = Path("/tmp/pgadvisor-bench-anomalies/synth-30d-1000-600-s1.sqlite")
GOALS = {"workload --statements": 30.0, "workload": 30.0, "workload --forecast": 30.0, "anomalies 1d": 30.0,
         "anomalies 23d": 30.0, "anomalies 23d --by statement": 30.0, "report 30d": 60.0}


def commands(store: str, end: float) -> dict[str, list[str]]:
    """The runs, with windows counted back from the store's end (the CLI counts from now)."""
    def back(days: float) -> str:
        return f"{int((time.time() - end) / 60 + days * 1440) + 1}m"

    out = str(Path(tempfile.gettempdir()) / "pgadvisor-cost-review.html")
    return {
        # the top-N table `workload` printed before issue 12 (no templates): the floor of reading the window
        "workload --statements": ["workload", "--store", store, "--since", back(30), "--statements", "--format",
                                  "json"],
        "workload": ["workload", "--store", store, "--since", back(30), "--format", "json"],
        "workload --forecast": ["workload", "--store", store, "--since", back(30), "--forecast", "--format", "json"],
        "anomalies 1d": ["anomalies", "--store", store, "--since", back(1), "--format", "json"],
        "anomalies 23d": ["anomalies", "--store", store, "--since", back(23), "--format", "json"],
        "anomalies 23d --by statement": ["anomalies", "--store", store, "--since", back(23), "--by", "statement",
                                         "--format", "json"],
        "report 30d": ["report", "--store", store, "--since", back(30), "--out", out],
    }


def run(args: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(wall s, CPU s of the child and its workers, exit code, stderr's last line) of `pgadvisor *args`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=1800,
                       cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.returncode, (r.stderr.strip().splitlines() or [""])[-1]


def before_tree(rev: str) -> Path:
    """The package at `rev`, unpacked once into the temp directory."""
    path = Path(tempfile.gettempdir()) / f"pgadvisor-at-{rev}"
    if not (path / "pgadvisor").exists():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pgadvisor"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive, check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", help="a store to read (default: bench_anomalies' seed-1 30-day store)")
    ap.add_argument("--before", default=BEFORE_REV, help="the revision to compare with, or none")
    ap.add_argument("--repeat", type=int, default=1, help="runs per command and revision (the median is shown)")
    ap.add_argument("--only", nargs="*", choices=list(GOALS), help="only these commands")
    args = ap.parse_args()
    path = Path(args.store) if args.store else STORE
    truth_path = Path(str(path) + ".truth.json")
    if not path.exists():
        from tests.bench import synth_store

        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        truth_path.write_text(json.dumps(synth_store.generate(path, days=30, templates=1000, seed=1)))
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    if truth_path.exists():
        end = json.loads(truth_path.read_text())["end"]
    else:
        from pgadvisor.store import open_store

        with open_store(str(path), read_only=True) as st:
            end = max(s["last"] for s in st.snapshots())
    trees = {"ours": ROOT} if args.before == "none" else {f"before ({args.before})": before_tree(args.before),
                                                         "ours": ROOT}
    print(f"bench_workload_cost: {path.name}, {os.cpu_count()} cores (shared machine: wall time follows the "
          f"load; compare CPU), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    rows = []
    for name, argv in commands(str(path), end).items():
        if args.only and name not in args.only:
            continue
        for tree_name, tree in trees.items():
            runs = []
            for _ in range(args.repeat):
                load = os.getloadavg()[0]
                wall, cpu, rc, last = run(argv, tree)
                if rc not in (0, 1):  # anomalies exit 1 only with --fail-on
                    raise SystemExit(f"{tree_name}: pgadvisor {' '.join(argv)} failed: {last}")
                runs.append((wall, cpu, load))
            runs.sort()
            wall, cpu, load = runs[len(runs) // 2]
            rows.append((name, tree_name, wall, cpu, load))
            print(f"  {name:<30} {tree_name:<18} wall {wall:6.1f} s  CPU {cpu:6.1f} s  load {load:5.1f}", flush=True)
    print("\n| command | code | wall s | CPU s | load before | goal |\n|---|---|---|---|---|---|")
    for name, tree_name, wall, cpu, load in rows:
        goal = GOALS[name]
        verdict = f"<= {goal:g} s: {'met' if wall <= goal else 'MISSED'}" if tree_name == "ours" else ""
        print(f"| `{name}` | {tree_name} | {wall:.1f} | {cpu:.1f} | {load:.1f} | {verdict} |")


if __name__ == "__main__":
    main()
