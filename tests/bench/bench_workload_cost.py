"""Benchmark the cost of `pgadvisor workload` (templates, classes, clusters; with and without --forecast)
over 30 days × 1,000 templates.

Run on purpose (not collected by pytest):

    python tests/bench/bench_workload_cost.py [--store PATH] [--days 30] [--templates 1000]

Generates the store with tests/bench/synth_store.py (10-minute snapshots written straight into SQLite)
unless `--store` names one, then times in a subprocess each (wall clock, as a user runs it):
`workload --since 30d --format json` (the baseline beside it: `workload --statements`, the top-N table
that `workload` printed before issue 12) and `workload --since 30d --forecast --format json`.

Goal (issue 12): <= 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bench"))

GOAL_S = 30.0


def timed(*args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=900,
                       cwd=ROOT)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"pgadvisor {' '.join(args)} failed: {r.stderr.strip()}")
    return took, json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store")
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--templates", type=int, default=1000)
    args = ap.parse_args()
    path = args.store
    if not path:
        import synth_store

        path = str(Path(tempfile.mkdtemp(prefix="pgadvisor-cost-")) / "store.sqlite")
        t0 = time.perf_counter()
        synth_store.generate(path, days=args.days, templates=args.templates)
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    base = ["workload", "--store", path, "--since", f"{int(args.days) + 1}d", "--format", "json"]
    rows = []
    for name, extra in (("workload --statements (before)", ["--statements"]), ("workload", []),
                        ("workload --forecast", ["--forecast"])):
        took, doc = timed(*base, *extra)
        rows.append((name, took, len(doc.get("templates", [])), doc.get("window", {}).get("snapshots")))
        print(f"  {name}: {took:.1f} s", flush=True)
    print(f"\n{'command':<34} {'seconds':>8} {'templates':>10} {'snapshots':>10}")
    for name, took, n, snaps in rows:
        print(f"{name:<34} {took:>8.1f} {n:>10} {snaps!s:>10}")
    worst = max(r[1] for r in rows[1:])
    print(f"goal <= {GOAL_S:g} s: {'met' if worst <= GOAL_S else 'MISSED'} (slowest {worst:.1f} s)")


if __name__ == "__main__":
    main()
