"""Benchmark `pgadvisor report` on a synthetic 30-day × 1,000-template store (tests/bench/synth_store.py).

    python tests/bench/bench_report.py [--days 30] [--templates 1000] [--dir /tmp/pgadvisor-bench-anomalies]

Times `pgadvisor report --since 30d` and `--since 7d` (CLI, subprocess, offline recommendations), reports the
HTML size, and loads the 30-day file in headless chromium (when installed): script errors, charts drawn,
time to dump the DOM. The store is the one bench_anomalies.py generates (re-used when present).
Goals (issue 12): <= 60 s and <= 10 MB of HTML for 30 days x 1,000 templates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench import synth_store  # noqa: E402

GOAL_S, GOAL_MB = 60.0, 10.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--templates", type=int, default=1000)
    ap.add_argument("--step", type=float, default=600)
    ap.add_argument("--dir", default="/tmp/pgadvisor-bench-anomalies")
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"synth-{args.days:g}d-{args.templates}-{int(args.step)}-s1.sqlite"
    if not path.exists():
        truth = synth_store.generate(path, days=args.days, step=args.step, templates=args.templates, seed=1)
        Path(str(path) + ".truth.json").write_text(json.dumps(truth))
    tmp = Path(tempfile.mkdtemp(prefix="pgadvisor-report-"))
    print(f"bench_report: {path.name}; load average {os.getloadavg()} on {os.cpu_count()} cores (shared machine)")
    print(f"{'run':<24} | {'wall s':>7} | {'CPU s':>6} | {'load':>5} | {'HTML MB':>7} | goal")
    try:
        for since in (f"{int(args.days)}d", "7d"):
            out = tmp / f"review-{since}.html"
            load = os.getloadavg()[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "pgadvisor", "report", "--store", str(path), "--since", since,
                                "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            if r.returncode:
                raise SystemExit(f"report failed: {r.stderr.strip()}")
            mb = out.stat().st_size / 1e6
            ok = "met" if wall <= GOAL_S and mb <= GOAL_MB else "MISSED"
            print(f"report --since {since:<9} | {wall:7.1f} | {cpu:6.1f} | {load:5.1f} | {mb:7.2f} | <= {GOAL_S:g} s, "
                  f"<= {GOAL_MB:g} MB: {ok}")
        exe = shutil.which("chromium")
        if exe:
            t0 = time.perf_counter()
            dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                  f"--user-data-dir={tmp / 'profile'}", "--dump-dom",
                                  (tmp / f"review-{int(args.days)}d.html").as_uri()],
                                 capture_output=True, text=True, timeout=300).stdout
            errors = re.search(r'data-errors="(\d+)"', dom)
            charts = re.search(r'data-charts="(\d+)"', dom)
            print(f"chromium --dump-dom of the {int(args.days)}-day file: {time.perf_counter() - t0:.1f} s, "
                  "script errors "
                  f"{errors.group(1) if errors else '?'}, charts drawn {charts.group(1) if charts else '?'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
