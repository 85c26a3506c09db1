"""Benchmark `pgadvisor check` on a large schema: 2,000 tables and 6,000 indexes (issue 11: ≤ 10 s on 2 cores).

Run on purpose (not collected by pytest):

    python tests/bench/bench_check_scale.py [--tables 2000] [--runs 3] [--keep]

Starts a throwaway cluster, creates `--tables` tables (each: a primary key, a foreign key to the previous
table, a timestamp, a jsonb column, an index on (a) and one on (a, b): 3 indexes a table, and a redundant
one and an unindexed foreign key per table, so every table has findings), then measures, median of
`--runs`:

- `pgadvisor check` end to end as CI runs it (a new process: start-up, connect, read the catalog, every
  rule in scope, allow-list, render), for the text, JSON, SARIF and JUnit formats;
- in process, the phases: reading the catalog (`check.gather`), the rules and the judgement
  (`check.evaluate`), each renderer;
- side by side, recommend's catalog rules alone (`advise.drops.recommend_drops`, the five rules `check`
  had before issue 11) on the same schema dict: what the other rules and the gate add.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 10.0
TABLE_SQL = """
CREATE TABLE t{i} (
    id bigint PRIMARY KEY,
    parent_id bigint{ref},
    a int,
    b text,
    created timestamp,
    doc jsonb
);
CREATE INDEX t{i}_a ON t{i} (a);
CREATE INDEX t{i}_ab ON t{i} (a, b);
"""


def build(dsn: str, tables: int) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for start in range(0, tables, 200):
            sql = "".join(TABLE_SQL.format(i=i, ref=f" REFERENCES t{i - 1} (id)" if i else "")
                          for i in range(start, min(tables, start + 200)))
            conn.execute(sql)
        conn.execute("ANALYZE")
        n_tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        n_indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone()[0]
    return n_tables, n_indexes


def cli_seconds(dsn: str, fmt: str, out: Path, extra: tuple[str, ...] = ()) -> tuple[float, int]:
    env = {**os.environ, "PGADVISOR_DSN": dsn}
    env.pop("GITHUB_ACTIONS", None)
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "check", "--fail-on", "never", "--format", fmt,
                        "--output", str(out / f"report.{fmt}"), *extra], env=env, capture_output=True, text=True,
                       cwd=out)
    elapsed = time.perf_counter() - started
    if r.returncode != 0:
        sys.exit(f"check failed ({r.returncode}): {r.stderr}")
    return elapsed, r.returncode


def workload_rules() -> list[str]:
    from pgadvisor.check.rules import registry

    return [rid for rid, r in registry().items() if r.kind == "workload"]


def phases(dsn: str) -> dict[str, float]:
    from pgadvisor.advise.drops import recommend_drops
    from pgadvisor.check import CheckConfig, evaluate, gather
    from pgadvisor.report.check_text import markdown, text
    from pgadvisor.report.junit import junit
    from pgadvisor.report.sarif import sarif

    out: dict[str, float] = {}
    t = time.perf_counter()
    inputs = gather(dsn)
    out["read the catalog (gather)"] = time.perf_counter() - t
    t = time.perf_counter()
    result = evaluate(inputs, CheckConfig(fail_on="never"))  # static rules (no workload: offline)
    out["static rules + judgement (evaluate)"] = time.perf_counter() - t
    out["findings"] = len(result.findings)
    for run in result.rules:
        out[f"  of which {run.id}"] = run.seconds
    for name, render in (("render text", text), ("render markdown", markdown), ("render sarif", sarif),
                         ("render junit", junit)):
        t = time.perf_counter()
        render(result)
        out[name] = time.perf_counter() - t
    t = time.perf_counter()
    recommend_drops(inputs.schema, stats_window_days=inputs.stats_window_days)
    out["baseline: recommend's 5 catalog rules"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the cluster running and print its DSN")
    args = ap.parse_args()
    from pgadvisor.pg.local import start_cluster

    cluster = start_cluster()
    try:
        with __import__("psycopg").connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_check")
        dsn = cluster.dsn("bench_check")
        t = time.perf_counter()
        n_tables, n_indexes = build(dsn, args.tables)
        print(f"schema: {n_tables} tables, {n_indexes} indexes (built in {time.perf_counter() - t:.1f} s); "
              f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs (shared with other work)")
        with tempfile.TemporaryDirectory() as tmp:
            rows = []
            for fmt in ("text", "json", "sarif", "junit"):
                times = [cli_seconds(dsn, fmt, Path(tmp))[0] for _ in range(args.runs)]
                rows.append((f"pgadvisor check --format {fmt}", statistics.median(times), max(times)))
            static = tuple(x for r in workload_rules() for x in ("--exclude", r))
            times = [cli_seconds(dsn, "json", Path(tmp), static)[0] for _ in range(args.runs)]
            rows.append(("... --format json, without the workload rules", statistics.median(times), max(times)))
            per_phase = [phases(dsn) for _ in range(args.runs)]
        head = "end to end (new process, every rule in scope)"
        print(f"\n{head:<48} {'median s':>9} {'max s':>7}  goal ≤ {GOAL_S:g} s")
        for name, med, worst in rows:
            print(f"{name:<48} {med:>9.2f} {worst:>7.2f}  {'met' if worst <= GOAL_S else 'MISSED'}")
        print(f"\n{'in process (median of ' + str(args.runs) + ')':<48} {'s':>9}")
        medians = {key: statistics.median(p[key] for p in per_phase) for key in per_phase[0]}
        slowest = sorted((k for k in medians if k.startswith("  of which")), key=lambda k: -medians[k])[:3]
        for key, value in medians.items():
            if key.startswith("  of which") and key not in slowest:
                continue
            shown = f"{value:>9.0f}" if key == "findings" else f"{value:>9.3f}"
            print(f"{key:<48} {shown}")
        if args.keep:
            print(f"\nkept: {dsn}")
    finally:
        if not args.keep:
            cluster.stop()


if __name__ == "__main__":
    main()
