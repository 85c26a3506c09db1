"""Benchmark `pgadvisor check` on a large schema: 2,000 tables and 6,000 indexes (issue 11: ≤ 10 s on 2 cores,
as a user runs it: pg_stat_statements and hypopg present, the workload rules on).

Run on purpose (not collected by pytest), one command, unattended:

    nice -n 5 python3 tests/bench/bench_check_scale.py [--tables 2000] [--statements 400] [--runs 3] [--keep]

Starts a throwaway cluster, creates `--tables` tables (each: a primary key, a foreign key to the previous
table, a timestamp, a jsonb column, an index on (a) and one on (a, b): 3 indexes a table, and a redundant
one and an unindexed foreign key per table, so every table has findings), then runs the application's
"test suite": `--statements` distinct statements (five per table: by primary key, by an unindexed column,
by the unindexed foreign key, a top-N sort, an update) over the first tables, each loaded with 50 rows, after
a pg_stat_statements reset; a pgadvisor.toml declares their production sizes (every fourth 5,000,000 rows,
the others 10,000). Then it measures, median of `--runs`, wall time, the CPU time of check's process
(user+sys) and of the server (the postmaster's reaped backends: check's sessions), and the load average:

- `pgadvisor check` end to end as CI runs it (a new process: start-up, connect, read the catalog, every
  rule in scope, allow-list, render), for the text, JSON, SARIF and JUnit formats; with no production
  size declared (index-would-help then reads every scanned or sorted statement); without the workload rules;
- in process, the phases, each beside what it replaced (side by side in one run): the workload facts
  (`workload.gather`) on check's catalog vs reading the catalog again (before); index-would-help through
  the advisor on that catalog vs through `advise.review.recommend` on every statement of a large table
  (before: a third catalog read and recommend's drop rules); the static rules; each renderer; recommend's
  five catalog rules alone (`advise.drops.recommend_drops`) on the same schema dict.
"""

from __future__ import annotations

import argparse
import os
import resource
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


# the application's test suite: the statements it runs on each table it touches (five per table; a suite runs a
# few hundred distinct statements, workload.MAX_STATEMENTS' estimate), and the rows its fixtures load per table
TEST_STATEMENTS = (
    ("SELECT * FROM t{i} WHERE id = %s", (1,)),  # the primary key: an index reaches it at any size
    ("SELECT * FROM t{i} WHERE b = %s", ("b1",)),  # no index on b: a scan of a large table, an index would help
    ("SELECT id FROM t{i} WHERE parent_id = %s", (1,)),  # the unindexed foreign key
    ("SELECT * FROM t{i} ORDER BY created DESC LIMIT 20", None),  # a top-N sort of every row
    ("UPDATE t{i} SET b = %s WHERE id = %s", ("b2", 1)),
)
FIXTURE_ROWS = 50
# production sizes declared in the bench's pgadvisor.toml ([check.rows]): every fourth tested table is large
LARGE_ROWS, SMALL_ROWS = 5e6, 1e4


def run_tests(dsn: str, tables: int, statements: int) -> dict[str, float]:
    """Run the application's 'test suite' (`statements` distinct statements over the first statements/5
    tables) after a pg_stat_statements reset; returns the declared production rows of the tested tables."""
    import psycopg

    tested = range(min(tables, statements // len(TEST_STATEMENTS)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in tested:
            conn.execute(f"INSERT INTO t{i} (id, parent_id, a, b, created) SELECT g, NULL, g % 7, 'b' || g, "
                         f"now() - g * interval '1 hour' FROM generate_series(1, {FIXTURE_ROWS}) g")
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in tested:
            for text, params in TEST_STATEMENTS:
                conn.execute(text.format(i=i), params)
    return {f"public.t{i}": LARGE_ROWS if i % 4 == 0 else SMALL_ROWS for i in tested}


def write_config(where: Path, rows: dict[str, float]) -> None:
    lines = ["[check.rows]"] + [f'"{t}" = {n:g}' for t, n in rows.items()]
    (where / "pgadvisor.toml").write_text("\n".join(lines) + "\n")


def server_cpu(cluster) -> float:
    """CPU seconds (user+sys) of the cluster's postmaster and of the backends it has reaped (/proc: Linux)."""
    pid = (Path(cluster.datadir) / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


class Meter:
    """Wall time, this process's CPU, its waited-for children's CPU and the server's, from `start` to `stop`."""

    def __init__(self, cluster):
        self.cluster = cluster

    def __enter__(self) -> Meter:
        self.t0, self.s0 = time.perf_counter(), server_cpu(self.cluster)
        self.c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        time.sleep(0.05)  # the postmaster reaps check's backends
        after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, self.c0))
        self.server = server_cpu(self.cluster) - self.s0


def cli_run(cluster, dsn: str, fmt: str, cwd: Path, extra: tuple[str, ...] = ()) -> Meter:
    env = {**os.environ, "PGADVISOR_DSN": dsn}
    env.pop("GITHUB_ACTIONS", None)
    with Meter(cluster) as m:
        r = subprocess.run([sys.executable, "-m", "pgadvisor", "check", "--fail-on", "never", "--format", fmt,
                            "--output", str(cwd / f"report.{fmt}"), *extra], env=env, capture_output=True,
                           text=True, cwd=cwd)
    if r.returncode != 0:
        sys.exit(f"check failed ({r.returncode}): {r.stderr}")
    m.summary = r.stderr.strip().splitlines()[-1]
    return m


def workload_rules() -> list[str]:
    from pgadvisor.check.rules import registry

    return [rid for rid, r in registry().items() if r.kind == "workload"]


def phases(cluster, dsn: str, rows: dict[str, float]) -> dict[str, tuple[float, float, float, str]]:
    """In process: {phase: (wall s, client CPU s, server CPU s, what it found)}."""
    from pgadvisor.advise import review
    from pgadvisor.advise.drops import recommend_drops
    from pgadvisor.advise.rules import index_would_help
    from pgadvisor.advise.rules import workload as wl
    from pgadvisor.check import CheckConfig, evaluate, gather
    from pgadvisor.check.run import _catalog_options, _scan
    from pgadvisor.report.check_text import markdown, text
    from pgadvisor.report.junit import junit
    from pgadvisor.report.sarif import sarif

    out: dict[str, tuple[float, float, float, str]] = {}

    def timed(name: str, fn, said=lambda r: ""):
        with Meter(cluster) as m:
            r = fn()
        out[name] = (m.wall, m.cpu, m.server, said(r))
        return r

    inputs = timed("read the catalog (check.gather)", lambda: gather(dsn))
    facts = timed("workload facts on check's catalog (workload.gather(schema=))",
                  lambda: wl.gather(dsn, rows=rows, schema=inputs.schema), lambda f: f"{len(f.statements)} statements")
    timed("  before: workload.gather reading the catalog again", lambda: wl.gather(dsn, rows=rows),
          lambda f: f"{len(f.statements)} statements")
    config = CheckConfig(fail_on="never", rows=rows)
    scan = _scan(inputs.schema, _catalog_options(inputs, config))
    texts = index_would_help._texts(facts, scan)  # every statement that scans or sorts a large table
    screened = index_would_help._with_candidates(texts, facts)
    timed("index-would-help: screened, advisor on check's catalog",
          lambda: index_would_help.find_workload(facts, scan),
          lambda r: f"{len(screened)} of {len(texts)} statements, {len(r)} findings"
          + (f"; {facts.limits[index_would_help.ID]}" if index_would_help.ID in facts.limits else ""))
    low = index_would_help.THRESHOLDS["min_reduction_pct"]

    def kept(review_) -> int:  # the old rule's filter: create-index past min_reduction_pct
        return sum(x.rule == "create-index" and float((x.benefit or {}).get("reduction_pct") or 0) >= low
                   for x in review_.recommendations)

    timed("  before: recommend() on every statement of a large table",
          lambda: review.recommend(dsn, texts=texts, time_limit_s=60.0),
          lambda r: f"{len(texts)} statements, {kept(r)} findings")
    result = timed("static rules + judgement (evaluate, offline)", lambda: evaluate(inputs, config),
                   lambda r: f"{len(r.findings)} findings")
    for name, render in (("render text", text), ("render markdown", markdown), ("render sarif", sarif),
                         ("render junit", junit)):
        timed(name, lambda render=render: render(result))
    timed("recommend's 5 catalog rules alone (recommend_drops)",
          lambda: recommend_drops(inputs.schema, stats_window_days=inputs.stats_window_days))
    return out


def median_meter(ms: list[Meter]) -> tuple[float, float, float, float]:
    return (statistics.median(m.wall for m in ms), max(m.wall for m in ms), statistics.median(m.cpu for m in ms),
            statistics.median(m.server for m in ms))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--statements", type=int, default=400, help="distinct statements the 'tests' run")
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
        hypopg = "hypopg" in cluster.extensions
        if hypopg:
            with __import__("psycopg").connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        rows = run_tests(dsn, args.tables, args.statements)
        print(f"schema: {n_tables} tables, {n_indexes} indexes, {args.statements} test statements over {len(rows)} "
              f"tables, hypopg {'created' if hypopg else 'not installed'} (built in {time.perf_counter() - t:.1f} s); "
              f"{os.cpu_count()} CPUs (shared with other work)")
        with tempfile.TemporaryDirectory() as tmp:
            sized, unsized = Path(tmp) / "sized", Path(tmp) / "unsized"
            sized.mkdir()
            unsized.mkdir()
            write_config(sized, rows)
            static = tuple(x for r in workload_rules() for x in ("--exclude", r))
            cases = [(f"--format {fmt}", fmt, sized, ()) for fmt in ("text", "json", "sarif", "junit")]
            cases += [("--format text, no production sizes declared", "text", unsized, ()),
                      ("--format text, the workload rules excluded", "text", sized, static)]
            results = []
            for name, fmt, cwd, extra in cases:
                ms = [cli_run(cluster, dsn, fmt, cwd, extra) for _ in range(args.runs)]
                results.append((name, *median_meter(ms), os.getloadavg()[0], ms[-1].summary))
            per_phase = [phases(cluster, dsn, rows) for _ in range(args.runs)]
        print(f"\n{'pgadvisor check (new process, end to end)':<48} {'wall s':>7} {'max s':>6} {'CPU s':>6} "
              f"{'server':>6} {'load':>5}  goal ≤ {GOAL_S:g} s")
        for name, wall, worst, cpu, server, load, _ in results:
            print(f"{name:<48} {wall:>7.2f} {worst:>6.2f} {cpu:>6.2f} {server:>6.2f} {load:>5.1f}  "
                  f"{'met' if worst <= GOAL_S else 'MISSED'}")
        print("\nsummary lines:")
        for name, *_, summary in results:
            print(f"  {name}: {summary}")
        print(f"\n{'in process (median of ' + str(args.runs) + ')':<56} {'wall s':>7} {'CPU s':>6} {'server':>6}")
        for key in per_phase[0]:
            wall, cpu, server = (statistics.median(p[key][i] for p in per_phase) for i in range(3))
            print(f"{key:<56} {wall:>7.3f} {cpu:>6.3f} {server:>6.3f}  {per_phase[-1][key][3]}")
        print(f"load average at the end: {os.getloadavg()}")
        if args.keep:
            print(f"\nkept: {dsn}")
    finally:
        if not args.keep:
            cluster.stop()


if __name__ == "__main__":
    main()
