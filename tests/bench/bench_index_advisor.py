"""Benchmark the index advisor (issue 3) against Extend (index-eab) and a Dexter-like baseline.

Run on purpose (not collected by pytest); needs `pip install duckdb duckdb-extension-tpch
duckdb-extension-tpcds index-eab` and local PostgreSQL binaries with hypopg:

    python tests/bench/bench_index_advisor.py --bench tpch            # TPC-H SF1, ~20 min the first time
    python tests/bench/bench_index_advisor.py --bench tpcds --pg-dir /tmp/pgadvisor-bench/pg-ds \
        --budgets 25,100,500,1500 --widths 2 --real-sizes largest    # TPC-DS SF1, ~1 h the first time

1. TPC-H SF1 (or TPC-DS SF1) in a throwaway cluster (kept in <data-dir>/pg for re-runs), primary
   keys only; the workload (tests/bench/tpc.py) is run with varied parameters and read back **from
   pg_stat_statements** as StatementStats (a re-run re-uses the rows recorded by the first run).
2. For every max index width and storage budget: pgadvisor's `recommend_indexes`, Extend from
   index-eab (its own algorithm, on a connector that costs statements the same way) and the
   Dexter-like per-query baseline (tests/bench/dexter_like.py; budget-free, truncated to the budget
   in order of saving). Each method's selection time and what-if calls (EXPLAINs it ran).
3. Every chosen configuration is costed by one independent evaluator: hypopg hypothetical indexes
   and generic plans (PREPARE under plan_cache_mode = force_generic_plan, EXPLAIN EXECUTE with NULL
   arguments, as pgadvisor does on PostgreSQL 15): relative cost = Σ calls × cost with the indexes
   ÷ Σ calls × cost without. Sizes: hypopg_relation_size estimates, and the **real** size of every
   chosen index, built once for real (CREATE INDEX, pg_relation_size, DROP; cached in the data dir).

Budgets are in MB of 10^6 bytes for all three methods (index-eab's unit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import tpc  # noqa: E402
from tests.bench.dexter_like import dexter_like, truncate_to_budget  # noqa: E402

MB = 1_000_000
DEFAULT_BUDGETS = "25,50,100,250,500,1000,1500"
_PARAM = re.compile(r"\$\d+")
_HYPO_NAME = re.compile(r"<(\d+)>")


def log(*a: Any) -> None:
    print(*a, flush=True)


# ---------------------------------------------------------------------------------------------------
# one cost function for everybody
# ---------------------------------------------------------------------------------------------------


class Coster:
    """Planner cost of a statement text under the session's hypothetical indexes (hypopg), generic plans."""

    def __init__(self, dsn: str):
        self.conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
        self.conn.execute(f"{tpc.HARNESS} SELECT set_config('plan_cache_mode', 'force_generic_plan', false)")
        self.conn.execute(f"{tpc.HARNESS} SELECT hypopg_reset()")
        self.calls = 0
        self.errors: dict[str, str] = {}
        self.hypo_errors: dict[str, str] = {}
        self.current: dict[int, str] = {}  # oid → CREATE INDEX text
        self._nparams: dict[str, int] = {}
        self._sizes: dict[str, int] = {}

    def close(self) -> None:
        try:
            self.reset()
        finally:
            self.conn.close()

    # hypothetical indexes
    def reset(self) -> None:
        if self.current:
            self.conn.execute(f"{tpc.HARNESS} SELECT hypopg_reset()")
        self.current.clear()

    def hypo_create(self, create_sql: str) -> int | None:
        try:
            row = self.conn.execute(f"{tpc.HARNESS} SELECT indexrelid, indexname FROM hypopg_create_index(%s)",
                                    (create_sql,)).fetchone()
        except psycopg.Error as exc:
            self.hypo_errors[create_sql] = " ".join(str(exc).split())[:200]
            return None
        self.current[int(row[0])] = create_sql
        return int(row[0])

    def hypo_create_named(self, create_sql: str) -> tuple[int, str] | None:
        try:
            row = self.conn.execute(f"{tpc.HARNESS} SELECT indexrelid, indexname FROM hypopg_create_index(%s)",
                                    (create_sql,)).fetchone()
        except psycopg.Error as exc:
            self.hypo_errors[create_sql] = " ".join(str(exc).split())[:200]
            raise
        self.current[int(row[0])] = create_sql
        return int(row[0]), row[1]

    def hypo_drop(self, oid: int) -> None:
        self.conn.execute(f"{tpc.HARNESS} SELECT hypopg_drop_index(%s)", (oid,))
        self.current.pop(oid, None)

    def hypo_size(self, oid: int) -> int:
        return int(self.conn.execute(f"{tpc.HARNESS} SELECT hypopg_relation_size(%s)", (oid,)).fetchone()[0])

    def size(self, body: str) -> int:
        """hypopg's size estimate of `CREATE INDEX <body>`."""
        if body not in self._sizes:
            oid = self.hypo_create(f"CREATE INDEX {body}")
            self._sizes[body] = self.hypo_size(oid) if oid is not None else 0
            if oid is not None:
                self.hypo_drop(oid)
        return self._sizes[body]

    def configure(self, bodies: list[str]) -> None:
        self.reset()
        for b in bodies:
            self.hypo_create(f"CREATE INDEX {b}")

    # costs
    def plan(self, text: str) -> dict | None:
        body = text.strip().rstrip(";")
        self.calls += 1
        try:
            if not _PARAM.search(body):
                return self.conn.execute(f"EXPLAIN (FORMAT JSON) {body}").fetchone()[0][0]["Plan"]
            with self.conn.transaction():
                self.conn.execute(f"PREPARE bench_whatif AS {body}")
                try:
                    n = self._nparams.get(body)
                    if n is None:
                        n = self._nparams[body] = self.conn.execute(
                            f"{tpc.HARNESS} SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                            "WHERE name = 'bench_whatif'").fetchone()[0] or 0
                    args = f"({', '.join(['NULL'] * n)})" if n else ""
                    plan = self.conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE bench_whatif{args}").fetchone()[0]
                    return plan[0]["Plan"]
                finally:
                    self.conn.execute("DEALLOCATE bench_whatif")
        except psycopg.Error as exc:
            self.errors[body[:200]] = " ".join(str(exc).split())[:200]
            if self.conn.info.transaction_status == TransactionStatus.INERROR:
                self.conn.rollback()
            try:
                self.conn.execute("DEALLOCATE ALL")
            except psycopg.Error:
                pass
            return None

    def cost(self, text: str) -> float | None:
        p = self.plan(text)
        return float(p["Total Cost"]) if p else None

    def cost_and_used(self, text: str) -> tuple[float | None, set[int]]:
        p = self.plan(text)
        if p is None:
            return None, set()
        used = {int(m.group(1)) for m in _HYPO_NAME.finditer(json.dumps(p))} & set(self.current)
        return float(p["Total Cost"]), used


@dataclass
class Stmt:
    key: str
    text: str
    calls: int
    columns: dict[str, list[str]] = field(default_factory=dict)  # table → referenced columns


def referenced_columns(text: str, schema: dict[str, list[str]]) -> dict[str, list[str]]:
    """Columns of the tables a statement names, found as whole words in its text."""
    words = set(re.findall(r"[a-z_][a-z0-9_]*", text.lower()))
    out = {}
    for table, cols in schema.items():
        if table in words:
            hit = [c for c in cols if c in words]
            if hit:
                out[table] = hit
    return out


def evaluate(coster: Coster, stmts: list[Stmt], bodies: list[str]) -> tuple[float, dict[str, float]]:
    coster.configure(bodies)
    per = {}
    for s in stmts:
        c = coster.cost(s.text)
        per[s.key] = c if c is not None else float("nan")
    coster.reset()
    return sum(s.calls * per[s.key] for s in stmts), per


# ---------------------------------------------------------------------------------------------------
# the three methods
# ---------------------------------------------------------------------------------------------------


def body_of(create_sql: str) -> str:
    """`CREATE INDEX CONCURRENTLY name ON … ;` → `ON …` (the key every method's index is compared by)."""
    m = re.search(r"\bON\s+(.*?);?\s*$", create_sql, re.S | re.I)
    return "ON " + " ".join(m.group(1).split()) if m else create_sql


def run_pgadvisor(dsn: str, statements, budget_mb: float, width: int, time_limit: float | None,
                  allow_prefixes: bool = False) -> dict[str, Any]:
    from pgadvisor.advise.indexes import AdvisorOptions, recommend_indexes
    from pgadvisor.pg.connect import connect

    t0 = time.monotonic()
    with psycopg.connect(dsn) as conn:
        options = AdvisorOptions(budget_bytes=int(budget_mb * MB), max_width=width, time_limit_s=time_limit,
                                 allow_prefixes=allow_prefixes)
        recs, rejected, stats = recommend_indexes(conn, statements, options, connect=lambda: connect(dsn))
    seconds = time.monotonic() - t0
    whatif = [r for r in recs if r.verified != "rule" and r.rule == "create-index"]
    rules = [r for r in recs if r.verified == "rule"]
    sel = stats.get("selection", {})
    return {"bodies": [body_of(r.sql) for r in whatif], "seconds": seconds,
            "printed_bytes": {body_of(r.sql): int(r.cost.get("size_bytes") or 0) for r in whatif},
            "whatif_calls": stats.get("whatif_calls"),
            "own_relative_cost": sel.get("relative_cost"),
            "own_objective": (sel["final_read_cost"] + sel["write_cost"]) if "final_read_cost" in sel else None,
            "algorithm": sel.get("algorithm"),
            "stopped": sel.get("stopped"), "rule_indexes": [r.sql for r in rules],
            "skipped": stats.get("statements", {}).get("skip_reasons"),
            "considered": stats.get("statements", {}).get("considered"),
            "candidates": stats.get("candidates"), "runs": sel.get("runs"), "history": sel.get("history"),
            "phases": stats.get("phases"), "time_limit_hit": sel.get("time_limit_hit")}


class EabConnector:
    """index-eab's DatabaseConnector over our Coster (psycopg 3, generic plans for `$n` texts)."""

    def __new__(cls, coster: Coster):
        from index_eab.eab_utils.database_connector import DatabaseConnector

        class _Conn(DatabaseConnector):
            def __init__(self, coster: Coster):
                DatabaseConnector.__init__(self, "bench", autocommit=True)
                self.db_system = "postgres"
                self.coster = coster

            def drop_indexes(self):  # index-eab drops every real non-PK index here: never on our database
                pass

            def exec_only(self, statement):
                self.coster.conn.execute(statement)

            def exec_fetch(self, statement, one=True):
                cur = self.coster.conn.execute(statement)
                return cur.fetchone() if one else cur.fetchall()

            def _simulate_index(self, index):
                return self.coster.hypo_create_named(
                    f"CREATE INDEX ON public.{index.table()} ({index.joined_column_names()})")

            def _drop_simulated_index(self, oid):
                self.coster.hypo_drop(oid)

            def _get_cost(self, query):
                c = self.coster.cost(query.text)
                return c if c is not None else 0.0

            def _get_plan(self, query):
                return self.coster.plan(query.text)

        return _Conn(coster)


def eab_workload(stmts: list[Stmt], schema: dict[str, list[str]]):
    from index_eab.eab_utils.workload import Column, Query, Table, Workload

    cols: dict[tuple[str, str], Any] = {}
    for t, cs in schema.items():
        table = Table(t)
        for c in cs:
            col = Column(c)
            table.add_column(col)
            cols[(t, c)] = col
    queries = []
    for i, s in enumerate(stmts):
        q = Query(i, s.text, frequency=s.calls)
        q.columns = [cols[(t, c)] for t, cs in s.columns.items() for c in cs]
        queries.append(q)
    return Workload(queries)


class TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise TimeLimit("time limit reached")


def run_extend(dsn: str, stmts: list[Stmt], schema: dict[str, list[str]], budget_mb: float, width: int,
               time_limit: float | None = None) -> dict[str, Any]:
    import signal

    from index_eab.index_advisor.extend_algorithm import ExtendAlgorithm

    coster = Coster(dsn)
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        t0 = time.monotonic()
        if time_limit:
            signal.alarm(int(time_limit))
        algo = ExtendAlgorithm(EabConnector(coster), {"budget_MB": budget_mb, "max_index_width": width,
                                                      "max_indexes": 10_000, "constraint": "storage"})
        try:
            indexes, info = algo.calculate_best_indexes(eab_workload(stmts, schema), overhead=True)
        except psycopg.Error as exc:
            # the alarm can land inside a query: psycopg then reports the broken session, not TimeLimit
            if time_limit and time.monotonic() - t0 >= time_limit:
                raise TimeLimit("time limit reached") from exc
            raise
        seconds = time.monotonic() - t0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        try:
            coster.close()
        except psycopg.Error:
            pass
    bodies = [f"ON public.{ix.table()} USING btree ({', '.join(c.name for c in ix.columns)})" for ix in indexes]
    return {"bodies": bodies, "seconds": seconds, "whatif_calls": coster.calls,
            "cost_requests": info.get("cost_requests"), "cache_hits": info.get("cache_hits")}


# ---------------------------------------------------------------------------------------------------
# real sizes
# ---------------------------------------------------------------------------------------------------


def real_sizes(dsn: str, bodies: set[str], cache_file: Path) -> dict[str, int]:
    """Build each index for real once (CREATE INDEX, pg_relation_size, DROP); cached across runs."""
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    todo = sorted(b for b in bodies if b not in cache)
    if todo:
        log(f"building {len(todo)} indexes for real to measure their size ({len(bodies) - len(todo)} cached)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i, b in enumerate(todo):
            t0 = time.monotonic()
            name = f"bench_real_{i}"
            try:
                conn.execute(f"{tpc.HARNESS} CREATE INDEX {name} {b}")
                cache[b] = int(conn.execute(f"{tpc.HARNESS} SELECT pg_relation_size('{name}'::regclass)").fetchone()[0])
            except psycopg.Error as exc:
                log(f"  could not build {b}: {exc}")
                cache[b] = -1
            finally:
                conn.execute(f"{tpc.HARNESS} DROP INDEX IF EXISTS {name}")
            log(f"  {i + 1}/{len(todo)} {b}: {cache[b] / MB:.1f} MB in {time.monotonic() - t0:.0f} s")
            cache_file.write_text(json.dumps(cache, indent=1))
    return {b: cache[b] for b in bodies}


# ---------------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def advisor_version() -> str:
    """sha1 of the advisor's sources (they change while the benchmark is developed), and the git HEAD."""
    import hashlib
    import subprocess

    h = hashlib.sha1()
    sources = [*sorted((ROOT / "pgadvisor/advise/indexes").glob("*.py")),
               *(ROOT / f"pgadvisor/{m}.py" for m in ("pg/hypo", "pg/explain", "pg/heuristic", "advise/schema",
                                                        "sql/parse"))]
    for p in sources:
        h.update(p.read_bytes() if p.exists() else b"")
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "?"
    return f"sources {h.hexdigest()[:10]} (HEAD {head} + working tree)"


def bench(args, bench_name: str, cluster) -> dict[str, Any]:
    sf = args.sf
    w = tpc.prepare_workload(cluster, bench_name, sf, args.data_dir, seed=args.seed, instances=args.instances,
                             timeout_s=args.query_timeout, rerun=args.rerun_workload, no_pk=args.no_pk, log=log)
    dsn = w["dsn"]
    pgss = [s for s in w["statements"] if tpc.HARNESS not in s.query]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = 'public' AND table_name <> 'bench_loaded' "
                            "ORDER BY table_name, ordinal_position").fetchall()
        version = conn.execute("SELECT version()").fetchone()[0]
        hypopg = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'hypopg'").fetchone()[0]
        existing = {body_of(r[0]) for r in conn.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relnamespace = 'public'::regnamespace").fetchall()}
    schema: dict[str, list[str]] = {}
    for t, c in rows:
        schema.setdefault(t, []).append(c)
    stmts = [Stmt(s.queryid, s.query, s.calls, referenced_columns(s.query, schema))
             for s in pgss if tpc.is_workload_query(s.query)]
    failed = {k: v for k, v in w["status"].items() if v["timeout"] or v["error"]}
    log(f"{bench_name}: {len(pgss)} pg_stat_statements rows, {len(stmts)} workload statements, "
        f"{sum(s.calls for s in stmts)} calls; templates not recorded: {failed or 'none'}")

    ev = Coster(dsn)
    base_total, base_per = evaluate(ev, stmts, [])
    unexplainable = [k for k, v in base_per.items() if v != v]
    if unexplainable:
        log(f"  {len(unexplainable)} statements cannot be explained and are left out of the cost: "
            f"{list(ev.errors.values())[:3]}")
        stmts = [s for s in stmts if s.key not in unexplainable]
        base_total, base_per = evaluate(ev, stmts, [])
    log(f"  baseline Σ calls × cost = {base_total:,.0f}")

    results: dict[str, Any] = {"bench": bench_name, "sf": sf, "no_pk": args.no_pk, "statements": len(stmts),
                               "calls": sum(s.calls for s in stmts), "pgss_rows": len(pgss),
                               "templates_failed": failed, "workload_recorded_at": w["recorded_at"],
                               "workload_run_seconds": w.get("run_seconds"), "baseline_cost": base_total,
                               "server": version, "hypopg": hypopg, "advisor": advisor_version(),
                               "baseline_per_statement": base_per, "runs": []}
    budgets = [float(b) for b in args.budgets.split(",")]
    widths = [int(x) for x in args.widths.split(",")]
    methods = args.methods.split(",")

    dexter = None
    if "dexter" in methods:
        dc = Coster(dsn)
        try:
            dx, dstats = dexter_like(dc, stmts)
        finally:
            dc.close()
        dsizes = {d.body: ev.size(d.body) for d in dx}
        dexter = (dx, dstats, dsizes)
        log(f"  dexter-like: {len(dx)} indexes, {dstats['whatif_calls']} what-if calls, {dstats['seconds']:.1f} s, "
            f"up to {dstats['max_hypothetical_at_once']} hypothetical indexes at once")

    for width in widths:
        for budget in budgets:
            for method in methods:
                t_label = f"{bench_name} width {width} budget {budget:g} MB {method}"
                try:
                    if method in ("pgadvisor", "pgadvisor-prefixes"):  # the latter: recommend --allow-prefixes
                        r = run_pgadvisor(dsn, pgss, budget, width, args.time_limit or None, method != "pgadvisor")
                    elif method == "extend":
                        r = run_extend(dsn, stmts, schema, budget, width, args.extend_time_limit)
                    elif method == "dexter":
                        dx, dstats, dsizes = dexter
                        chosen = truncate_to_budget(dx, dsizes, budget * MB)
                        r = {"bodies": [d.body for d in chosen], "seconds": dstats["seconds"],
                             "whatif_calls": dstats["whatif_calls"], "all": len(dx)}
                    else:
                        raise SystemExit(f"unknown method {method}")
                except Exception as exc:  # noqa: BLE001 - a crash is a result to report
                    log(f"  {t_label}: CRASHED {exc!r}")
                    results["runs"].append({"method": method, "width": width, "budget_mb": budget,
                                            "error": repr(exc), "traceback": traceback.format_exc()})
                    continue
                total, per = evaluate(ev, stmts, r["bodies"])
                r.update(method=method, width=width, budget_mb=budget, relative_cost=total / base_total,
                         est_bytes=sum(ev.size(b) for b in r["bodies"]), per_statement=per)
                r["existing_recommended"] = [b for b in r["bodies"] if b in existing]
                results["runs"].append(r)
                extra = ""
                if r["existing_recommended"]:
                    extra += f" RECOMMENDS EXISTING INDEXES {r['existing_recommended']}"
                if method == "pgadvisor" and r.get("own_relative_cost") is not None and \
                        abs(r["own_relative_cost"] - r["relative_cost"]) > 0.01:
                    extra += f" (pgadvisor's own estimate {r['own_relative_cost']:.3f})"
                log(f"  {t_label}: rel. cost {r['relative_cost']:.3f}{extra}, {len(r['bodies'])} indexes, "
                    f"{r['est_bytes'] / MB:.0f} MB est., {r['seconds']:.1f} s, {r['whatif_calls']} what-if calls")
    results["hypo_errors"] = dict(list(ev.hypo_errors.items())[:20])
    ev.close()

    if args.real_sizes != "none":
        runs = [r for r in results["runs"] if "bodies" in r]
        if args.real_sizes == "largest":
            top = max(budgets)
            runs = [r for r in runs if r["budget_mb"] == top]
        bodies = {b for r in runs for b in r["bodies"]}
        sizes = real_sizes(dsn, bodies, tpc.dataset_dir(args.data_dir, bench_name, sf) / "real_sizes.json")
        for r in results["runs"]:
            if "bodies" in r and all(b in sizes for b in r["bodies"]):
                r["real_bytes"] = sum(max(0, sizes[b]) for b in r["bodies"])
        results["real_index_bytes"] = {b: v for b, v in sizes.items() if v > 0}
    return results


def size_ratios(res: dict[str, Any]) -> list[tuple[str, int, int, float]]:
    """(index, printed bytes, real bytes, printed ÷ real) for every distinct B-tree pgadvisor recommended
    and that was built for real (issue 10: the sizes a user plans with)."""
    real = res.get("real_index_bytes") or {}
    out: dict[str, tuple[str, int, int, float]] = {}
    for r in res["runs"]:
        if r["method"] != "pgadvisor":
            continue
        for b, printed in (r.get("printed_bytes") or {}).items():
            if real.get(b, 0) > 0 and printed and " USING btree " in b:
                out[b] = (b, printed, real[b], printed / real[b])
    return sorted(out.values(), key=lambda x: -x[3])


def print_size_ratios(res: dict[str, Any]) -> None:
    ratios = size_ratios(res)
    if not ratios:
        return
    vals = sorted(x[3] for x in ratios)
    median = vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2
    worst = max(vals, key=lambda v: max(v, 1 / v))
    out = sum(not (0.67 <= v <= 1.5) for v in vals)
    print(f"\nprinted ÷ real size of the {len(vals)} B-trees pgadvisor recommended: median {median:.2f}, worst "
          f"{worst:.2f}, outside 0.67–1.5: {out}\n")
    print("| index | printed MB | real MB | printed ÷ real |\n|---|---|---|---|")
    for b, printed, real, ratio in ratios:
        print(f"| `{b}` | {printed / MB:.1f} | {real / MB:.1f} | {ratio:.2f} |")


# ---------------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------------


def table(results: dict[str, Any], width: int, methods: list[str]) -> str:
    runs = {(r["method"], r["budget_mb"]): r for r in results["runs"] if r["width"] == width}
    budgets = sorted({r["budget_mb"] for r in results["runs"]})
    names = {"pgadvisor": "pgadvisor", "pgadvisor-prefixes": "pgadvisor --allow-prefixes", "extend": "Extend",
             "dexter": "Dexter-like"}
    rel = [r["relative_cost"] for r in runs.values() if "relative_cost" in r]
    fmt = ".4f" if rel and min(rel) < 0.1 else ".3f"
    head = ["budget MB"]
    for m in methods:
        head += [f"{names[m]} rel. cost", "idx", "MB est/real", "s", "what-ifs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in budgets:
        row = [f"{b:g}"]
        for m in methods:
            r = runs.get((m, b))
            if r is None or "error" in r:
                row += ["CRASH" if r else "—", "", "", "", ""]
                continue
            real = f"{r['real_bytes'] / MB:.0f}" if r.get("real_bytes") is not None else "?"
            row += [format(r["relative_cost"], fmt), str(len(r["bodies"])), f"{r['est_bytes'] / MB:.0f}/{real}",
                    f"{r['seconds']:.1f}", str(r["whatif_calls"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def geo_mean_ratio(results: dict[str, Any], run: dict[str, Any]) -> float | None:
    """Geometric mean over statements of cost with ÷ cost without (unweighted: how broadly it helps)."""
    base = results.get("baseline_per_statement")
    if not base:  # older result files: a run without indexes has the baseline costs
        empty = [r for r in results["runs"] if r.get("bodies") == [] and "per_statement" in r]
        base = empty[0]["per_statement"] if empty else None
    per = run.get("per_statement")
    if not base or not per:
        return None
    logs = [math.log(max(per[k] / v, 1e-12)) for k, v in base.items() if v and v == v and per.get(k) == per.get(k)]
    return math.exp(sum(logs) / len(logs)) if logs else None


def worse_than_extend(results: dict[str, Any], tol: float = 1e-3) -> list[str]:
    """Runs where pgadvisor's relative cost is above Extend's by more than `tol` (relative)."""
    out = []
    runs = {(r["method"], r["width"], r["budget_mb"]): r for r in results["runs"] if "bodies" in r}
    for (m, w, b), r in sorted(runs.items()):
        if m != "pgadvisor":
            continue
        e = runs.get(("extend", w, b))
        if e and r["relative_cost"] > e["relative_cost"] * (1 + tol):
            out.append(f"width {w}, budget {b:g} MB: pgadvisor {r['relative_cost']:.4f} vs Extend "
                       f"{e['relative_cost']:.4f}")
    return out


def worse_than_own_runs(results: dict[str, Any], tol: float = 2.5e-4) -> list[str]:
    """Runs where pgadvisor reported a configuration whose own estimated cost is above that of one of its
    search runs (issue 10: never report worse than a configuration it found itself) by more than `tol`
    (relative): the advisor's pruning threshold, MIN_IMPROVEMENT / 2."""
    out = []
    for r in results["runs"]:
        if r["method"] != "pgadvisor" or not r.get("runs"):
            continue
        reported = r.get("own_objective")
        if reported is None:
            continue
        best_name, best = min(((k, v.get("objective")) for k, v in r["runs"].items() if v.get("objective") is not None),
                              key=lambda kv: kv[1], default=(None, None))
        if best is not None and reported > best * (1 + tol):
            out.append(f"width {r['width']}, budget {r['budget_mb']:g} MB: reported {reported:,.0f} vs "
                       f"{best_name} {best:,.0f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", choices=["tpch", "tpcds", "both"], default="tpch")
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--data-dir", type=Path, default=tpc.DEFAULT_DATA_DIR)
    ap.add_argument("--pg-dir", type=Path, default=None, help="cluster directory (default <data-dir>/pg)")
    ap.add_argument("--budgets", default=DEFAULT_BUDGETS, help="MB (10^6 bytes), comma-separated")
    ap.add_argument("--widths", default="2,3")
    ap.add_argument("--methods", default="pgadvisor,extend,dexter")
    ap.add_argument("--real-sizes", choices=["all", "largest", "none"], default="all")
    ap.add_argument("--instances", default="1-3", help="runs per TPC-H template (k or lo-hi, random)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--query-timeout", type=float, default=None, help="statement_timeout per query instance, s "
                    "(default 300 for TPC-H, 60 for TPC-DS)")
    ap.add_argument("--rerun-workload", action="store_true", help="run the queries again instead of re-using "
                    "the pg_stat_statements rows recorded by an earlier run")
    ap.add_argument("--time-limit", type=float, default=None, help="per run: pgadvisor's time_limit_s (default: "
                    "`pgadvisor recommend`'s default, DEFAULT_TIME_LIMIT_S; 0: none)")
    ap.add_argument("--extend-time-limit", type=float, default=900.0, help="per run: Extend is stopped (and "
                    "reported as not finished) after this many seconds")
    ap.add_argument("--json", type=Path, default=None, help="write every run (indexes, costs) to this file")
    ap.add_argument("--keep-running", action="store_true")
    ap.add_argument("--no-pk", action="store_true", help="advise on a copy of the database without primary keys "
                    "(made once; the workload is the one recorded with them)")
    ap.add_argument("--report", type=Path, default=None, help="only print the tables of a saved --json file")
    args = ap.parse_args()
    if args.time_limit is None:
        from pgadvisor.advise.review import DEFAULT_TIME_LIMIT_S

        args.time_limit = DEFAULT_TIME_LIMIT_S
    methods = args.methods.split(",")
    if args.report:
        print_report(json.loads(args.report.read_text()), methods)
        return
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    log(f"{started}; {machine()}")
    cluster = tpc.open_cluster(args.pg_dir or args.data_dir / "pg", log=log)
    all_results = []
    try:
        for name in (["tpch", "tpcds"] if args.bench == "both" else [args.bench]):
            if args.query_timeout is None:
                args.query_timeout = 300.0 if name == "tpch" else 60.0
            t0 = time.monotonic()
            res = bench(args, name, cluster)
            res["total_seconds"] = round(time.monotonic() - t0, 1)
            res["loadavg_end"] = round(os.getloadavg()[0], 1)
            res["started"] = started
            res["machine"] = machine()
            all_results.append(res)
            print_report(res, methods)
            out = args.json or tpc.dataset_dir(args.data_dir, name, args.sf) / (
                "bench_index_advisor_nopk.json" if args.no_pk else "bench_index_advisor.json")
            out.write_text(json.dumps(res, indent=1, default=str))
            print(f"\nall runs: {out}")
    finally:
        if not args.keep_running:
            cluster.stop(remove=False)


def print_report(res: dict[str, Any], methods: list[str]) -> None:
    """The tables of one benchmark's results (also from a saved JSON: --report FILE)."""
    name = res["bench"]
    print()
    nopk = " without primary keys" if res.get("no_pk") else ""
    print(f"## {name} SF{res['sf']:g}{nopk}: {res['statements']} statements, {res['calls']} calls (from "
          f"pg_stat_statements, recorded {res['workload_recorded_at']}); {res['server'].split(',')[0]}, "
          f"hypopg {res['hypopg']}; pgadvisor {res['advisor']}; load average at the end "
          f"{res.get('loadavg_end', '?')}")
    for width in sorted({r["width"] for r in res["runs"]}):
        print(f"\nmax index width {width}: relative estimated workload cost (lower is better)\n")
        print(table(res, width, methods))
    print("\ngeometric mean over statements of (cost with ÷ cost without), unweighted:\n")
    print("| width | budget MB | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    runs = {(r["method"], r["width"], r["budget_mb"]): r for r in res["runs"] if "bodies" in r}
    for w, b in sorted({(r["width"], r["budget_mb"]) for r in res["runs"]}):
        cells = []
        for m in methods:
            g = geo_mean_ratio(res, runs[(m, w, b)]) if (m, w, b) in runs else None
            cells.append(f"{g:.3f}" if g is not None else "—")
        print(f"| {w} | {b:g} | " + " | ".join(cells) + " |")
    pga = [r for r in res["runs"] if r["method"] == "pgadvisor" and "bodies" in r]
    if pga:
        print(f"\npgadvisor considered {pga[0]['considered']} of {res['pgss_rows']} pg_stat_statements rows; "
              f"skipped: {pga[0]['skipped'] or 'none'}; algorithms that won: "
              f"{sorted({r['algorithm'] for r in pga})}")
        print("\npgadvisor's phases (s) and where its time limit cut the run:\n")
        print("| width | budget MB | prepare | baseline | candidates | screening | search | report | limit hit |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in pga:
            ph = r.get("phases") or {}
            cells = [f"{ph.get(k, 0):.1f}" for k in ("prepare", "baseline", "candidates", "screening", "search",
                                                      "report")]
            print(f"| {r['width']} | {r['budget_mb']:g} | " + " | ".join(cells)
                  + f" | {', '.join(r.get('time_limit_hit') or []) or 'no'} |")
    own = worse_than_own_runs(res)
    print("\npgadvisor's reported configuration worse than one of its own search runs: "
          + ("; ".join(own) if own else "nowhere"))
    print_size_ratios(res)
    worse = worse_than_extend(res)
    print("\npgadvisor worse than Extend: " + ("; ".join(worse) if worse else "nowhere"))
    dup = [r for r in res["runs"] if r.get("existing_recommended")]
    print("configurations with an index that already exists: "
          + ("; ".join(f"{r['method']} w{r['width']} {r['budget_mb']:g} MB: {r['existing_recommended']}"
                       for r in dup) if dup else "none"))
    hypo_fail = res.get("hypo_errors")
    if hypo_fail:
        print(f"hypopg_create_index failures in the evaluator: {hypo_fail}")
    crashes = [r for r in res["runs"] if "error" in r]
    for r in crashes:
        print(f"CRASH {r['method']} width {r['width']} budget {r['budget_mb']:g}: {r['error']}")


if __name__ == "__main__":
    main()
