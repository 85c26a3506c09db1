"""Issue 14's benchmark: the partition advisor against every candidate built at full size.

    PYTHONPATH=. python tests/bench/bench_partitions.py [--rows 3000000] [--mixes 40] [--seed 14] [--json out.json]
    PYTHONPATH=. nice -n 5 python tests/bench/bench_partitions.py --e2e-only     # recommend end to end only

A throwaway cluster (shared_buffers 128MB). One 30-day time-series table `events` of `--rows` rows
(identity primary key; arrivals grow over the month; 200 tenants with a cubic skew; an index on
(tenant_id, ts)) and 12 statement families: time-window aggregates, tenant + time lookups, primary-key
lookups and updates, non-key filters, a retention delete, inserts.

Built once and reused by every mix:
  * the advisor's side: its own copies of a sample in the scratch database (pgadvisor's evaluate.py:
    build_copies + cost_statements, every family costed with its literal values on every copy);
  * the ground truth: every candidate (none, range by day, range by week, hash(tenant_id)) built at full
    size in the target database, each family's same literal text EXPLAINed on each (estimated cost),
    and run with EXPLAIN (ANALYZE, BUFFERS) in a rolled-back transaction (buffers touched: the
    validation copies).
Each of `--mixes` random mixes takes 6–12 families with log-uniform call weights (1–10,000), runs
the advisor's candidates.generate and decide.decide on its statements, and compares with the ground
truth: the full-size weighted estimated cost Σ calls × cost of each layout, with the same rules
applied at full size (a retention DELETE is a DROP under RANGE on ts; a layout is admissible when its
gain is ≥ 10%, no statement with ≥ 1% of the time gets ≥ 3× costlier, and it does not raise the
weighted buffers) — the ground truth's pick is the admissible layout of least cost, "none" included.
Finally `pgadvisor recommend --file` (the 12 families) is timed through the CLI without the partition
advisor (--no-partitions: the baseline) and with it (--scratch-dsn), then advise_partitions alone;
`--e2e-only` loads the table and runs only that (issue 14: ≤ 2 min at 3M rows on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import psycopg
from psycopg import sql

from pgadvisor.advise.partitions import candidates as cands
from pgadvisor.advise.partitions import decide as dec
from pgadvisor.advise.partitions.advisor import advise_partitions, table_statements
from pgadvisor.advise.partitions.evaluate import ALL_VISIBLE_VACUUM, all_visible_share, build_copies, cost_statements
from pgadvisor.advise.partitions.literals import retarget
from pgadvisor.advise.partitions.model import Candidate
from pgadvisor.pg import guard
from pgadvisor.pg.connect import connect
from pgadvisor.pg.local import start_cluster
from pgadvisor.pg.partition import analyze, build_partitioned, create_index, table_profile
from pgadvisor.pg.scratch import Copy, Scratch, open_scratch, table_columns
from pgadvisor.workload import StatementStats

TABLE = ("public", "events")
TENANTS = 200
LOAD = """
SELECT setseed(0.14);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts timestamptz NOT NULL,
                     tenant_id int NOT NULL, kind int NOT NULL, value float8 NOT NULL, payload text);
INSERT INTO events (ts, tenant_id, kind, value, payload)
SELECT timestamptz '2026-11-01 00:00+00' + sqrt(g::float8 / {n}) * interval '30 days',
       floor(power(random(), 3) * {tenants})::int, floor(random() * 20)::int, random() * 1000, md5(g::text)
  FROM generate_series(1, {n}) g;
CREATE INDEX events_tenant_ts ON events (tenant_id, ts);
VACUUM ANALYZE events;
"""
FAMILIES = [
    ("window_agg", "SELECT tenant_id, count(*), avg(value) FROM events WHERE ts >= $1 AND ts < $2 GROUP BY tenant_id"),
    ("window_kind", "SELECT kind, sum(value) FROM events WHERE ts >= $1 AND ts < $2 AND kind = $3 GROUP BY kind"),
    ("recent", "SELECT * FROM events WHERE ts > $1 ORDER BY ts DESC LIMIT 50"),
    ("tenant_time", "SELECT * FROM events WHERE tenant_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT 100"),
    ("tenant_count", "SELECT count(*) FROM events WHERE tenant_id = $1"),
    ("tenant_latest", "SELECT max(ts) FROM events WHERE tenant_id = $1"),
    ("pk_lookup", "SELECT * FROM events WHERE id = $1"),
    ("pk_update", "UPDATE events SET value = $1 WHERE id = $2"),
    ("nonkey_filter", "SELECT count(*) FROM events WHERE kind = $1 AND value > $2"),
    ("payload", "SELECT id FROM events WHERE payload = $1"),
    ("retention", "DELETE FROM events WHERE ts < $1"),
    ("insert", "INSERT INTO events (ts, tenant_id, kind, value, payload) VALUES ($1, $2, $3, $4, $5)"),
]
OLTP_FAMILIES = ("pk_lookup", "pk_update", "tenant_latest", "tenant_time", "insert")
# a mix's statements get total time ∝ calls × full-size cost (the share the trap rule reads)
MS_PER_COST = 0.01


def every_candidate(profile: dict, stmts: list) -> list[Candidate]:
    """Every layout some mix can propose: the union of candidates.generate over each family alone (a
    mix's candidates come from the columns its statements filter, each family's are among them)."""
    out: dict[str, Candidate] = {}
    for s in stmts:
        for c in cands.generate(profile, [s])[0]:
            out.setdefault(c.label, c)
    return list(out.values())


def statements() -> list[StatementStats]:
    return [StatementStats(queryid=name, query=text, userid=10, dbid=0, toplevel=True, calls=1,
                           total_exec_ms=1.0, rows=1) for name, text in FAMILIES]


def ground_truth(target_dsn: str, profile: dict, built: list[Candidate], results: list, indexes: list) -> dict:
    """Per family and layout: the full-size estimated cost and the buffers its real run touched."""
    out: dict = {}
    with psycopg.connect(target_dsn, autocommit=True) as conn:
        types = dict(table_columns(conn, TABLE))
        place = Scratch(conn, "public", target_dsn)
        base = Copy("public", "events", tuple(types))
        names = {"none": "events"}
        vacuum = all_visible_share(profile) >= ALL_VISIBLE_VACUUM
        for i, cand in enumerate(built[1:]):
            t0 = time.monotonic()
            copy = build_partitioned(place, base, types, cand.spec, f"pgadv_gt_{i}")
            for cols, method in indexes:
                create_index(place, copy, cols, method)
            # the target's state of vacuum, as the advisor's copies have it (evaluate.ALL_VISIBLE_VACUUM)
            analyze(place, copy, vacuum)
            names[cand.label] = copy.name
            print(f"  ground truth {cand.label}: built in {time.monotonic() - t0:.0f} s", flush=True)
        print("  all-visible pages: " + ", ".join(f"{n} {v}/{p}" for n, v, p in conn.execute(
            "SELECT relname, relallvisible, relpages FROM pg_class WHERE relname IN ('events', 'pgadv_gt_0_5')")))
        for r in results:
            if not r.literal:
                continue
            for label, name in names.items():
                text = retarget(r.literal, TABLE, ("public", name))
                cost = conn.execute("EXPLAIN (FORMAT JSON) " + text).fetchone()[0][0]["Plan"]["Total Cost"]
                conn.execute("BEGIN")
                try:
                    plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text).fetchone()[0][0]["Plan"]
                finally:
                    conn.execute("ROLLBACK")
                buffers = sum(plan.get(k, 0) for k in ("Shared Hit Blocks", "Shared Read Blocks"))
                out[(r.stmt.queryid, label)] = (float(cost), float(buffers))
    return out


def one_mix(rng: random.Random, profile: dict, results: list, truth: dict, oltp: bool = False) -> dict:
    """One random mix; `oltp`: the point lookups and inserts get 10^3–10^6 calls, the rest 1–1,000."""
    k = rng.randint(6, 12)
    picked = rng.sample(range(len(FAMILIES)), k)
    mix = []
    for i in picked:
        r = results[i]
        heavy = oltp and FAMILIES[i][0] in OLTP_FAMILIES
        calls = 10 ** (rng.uniform(3, 6) if heavy else rng.uniform(0, 3) if oltp else rng.uniform(0, 4))
        full = truth.get((r.stmt.queryid, "none"), (1.0, 0.0))[0]
        mix.append(replace(r, stmt=replace(r.stmt, calls=calls, total_ms=calls * full * MS_PER_COST)))
    found, _notes = cands.generate(profile, [r.stmt for r in mix])
    advice = dec.decide("public.events", profile, mix, found)
    pick = advice.chosen.label if advice.chosen else "none"
    labels = [c.label for c in found]
    w, share = dec.weights(mix)
    total = {}
    buffers = {}
    full_ratio = {}
    for c in found:
        tot = buf = 0.0
        for r in mix:
            if r.stmt.queryid not in w:
                continue
            cost, b = truth[(r.stmt.queryid, c.label)]
            if dec.is_retention(r, c):
                cost, b = truth[(r.stmt.queryid, "none")][0] * dec.RETENTION_RATIO, 0.0
            tot += r.stmt.calls * cost
            buf += r.stmt.calls * b
        total[c.label], buffers[c.label] = tot, buf
    for c in found:
        full_ratio[c.label] = total[c.label] / total["none"] if total["none"] else 1.0
    admissible = {"none"}
    for c in found[1:]:
        gain = 1 - full_ratio[c.label]
        trap = any(
            share.get(r.stmt.queryid, 0) >= dec.TRAP_SHARE and not dec.is_retention(r, c)
            and truth[(r.stmt.queryid, c.label)][0] >= dec.TRAP_RATIO * max(truth[(r.stmt.queryid, "none")][0], 1e-9)
            for r in mix if r.stmt.queryid in w)
        if gain >= dec.MIN_GAIN and not trap and buffers[c.label] <= buffers["none"]:
            admissible.add(c.label)
    best = min(admissible, key=lambda lab: total[lab])
    argmin = min(labels, key=lambda lab: total[lab])
    errors = {c.label: abs(dec.weighted(mix, c, w) - full_ratio[c.label]) / full_ratio[c.label]
              for c in found[1:] if full_ratio[c.label] > 0}
    return {"families": [FAMILIES[i][0] for i in picked], "candidates": labels, "advisor": pick, "truth": best,
            "why": advice.why,
            # a pick the ground truth refuses (cheaper but trapped or more buffers) is a miss, not a negative regret
            "argmin": argmin, "regret": max(0.0, (total[pick] - total[best]) / total[best]) if total[best] else 0.0,
            "errors": errors, "false_partition": pick != "none" and best == "none",
            "more_buffers": pick != "none" and buffers[pick] > buffers["none"],
            "advisor_ratio": {c: round(dec.weighted(mix, next(x for x in found if x.label == c), w), 4)
                              for c in labels[1:]},
            "full_ratio": {c: round(v, 4) for c, v in full_ratio.items()}}


# the time-series families of the end-to-end run's second mix (no point lookups: partitions should win)
TIME_SERIES = ("window_agg", "window_kind", "recent", "tenant_time", "retention", "insert")


def server_cpu(datadir: Path) -> float:
    """CPU seconds (user + sys) of the server so far: the postmaster's own and its ended children's (the
    backends that served finished connections; /proc/PID/stat fields 14–17)."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def _run_cli(args: list[str], datadir: Path) -> dict:
    """One `pgadvisor recommend` run: wall, CPU of the pgadvisor process, the server's CPU, load, result."""
    env = {k: v for k, v in os.environ.items() if k != "PGADVISOR_SCRATCH_DSN"}
    load0, srv0 = os.getloadavg()[0], server_cpu(datadir)
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "recommend", *args, "--format", "json"],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"wall_s": round(wall, 1), "cpu_s": round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 1),
           "server_cpu_s": round(server_cpu(datadir) - srv0, 1),
           "load": f"{load0:.1f} → {os.getloadavg()[0]:.1f}", "exit": r.returncode}
    if r.returncode == 0:
        doc = json.loads(r.stdout)
        row["rules"] = dict(Counter(x["rule"] for x in doc["recommendations"]))
        row["partitions"] = doc["stats"].get("partitions")
        row["notes"] = [n for n in doc.get("notes", []) if "partition" in n]
    else:
        row["stderr"] = r.stderr[-500:]
    return row


def timed_end_to_end(target: str, scratch: str, datadir: Path) -> dict:
    """`pgadvisor recommend --file` through the CLI, on all 12 families and on the time-series ones: without
    the partition advisor (--no-partitions, the index advice alone: the baseline) and with it
    (--scratch-dsn); then advise_partitions alone in process on the 12."""
    out: dict = {}
    mixes = {"12 families": [t for _n, t in FAMILIES],
             "6 time-series": [t for n, t in FAMILIES if n in TIME_SERIES]}
    for mix, texts in mixes.items():
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
            fh.write(";\n".join(texts) + ";\n")
        try:
            for name, extra in (("--no-partitions", ["--no-partitions"]),
                                ("--scratch-dsn", ["--scratch-dsn", scratch])):
                out[f"{mix}: recommend {name}"] = _run_cli(["--file", fh.name, "--dsn", target, *extra], datadir)
        finally:
            os.unlink(fh.name)
    stmts = [StatementStats(queryid=n, query=t, userid=0, dbid=0, toplevel=True, calls=1, total_exec_ms=0.0, rows=0)
             for n, t in FAMILIES]
    load0, srv0 = os.getloadavg()[0], server_cpu(datadir)
    c0, t0 = time.process_time(), time.perf_counter()
    report = advise_partitions(target, stmts, scratch_dsn=scratch)
    out["12 families: advise_partitions alone"] = {
        "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
        "server_cpu_s": round(server_cpu(datadir) - srv0, 1),
        "load": f"{load0:.1f} → {os.getloadavg()[0]:.1f}", "decision": [a.to_dict()["chosen"] for a in report.advice],
        "skipped": report.skipped}
    return out


def _print_end_to_end(rows: int, e2e: dict) -> None:
    print(f"\nend to end at {rows:,} rows ({os.cpu_count()} cores, shared with other work; CPU s: the pgadvisor "
          "process's user + sys; server CPU s: the PostgreSQL server's, its ended backends included):")
    print(f"{'run':<48} {'wall s':>7} {'CPU s':>6} {'server CPU s':>12} {'load 1 min':>12}  result")
    for name, row in e2e.items():
        result = row.get("rules") or row.get("decision") or row.get("stderr")
        print(f"{name:<48} {row['wall_s']:>7.1f} {row['cpu_s']:>6.1f} {row['server_cpu_s']:>12.1f} "
              f"{row['load']:>12}  {result}")
        if row.get("partitions"):
            print(f"{'':<48} partition advisor: {row['partitions']}")
        for note in row.get("notes") or []:
            print(f"{'':<48} note: {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--mixes", type=int, default=40)
    ap.add_argument("--oltp-mixes", type=int, default=20, help="more mixes where point lookups dominate")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--json", help="write every mix's result here")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end timing of `recommend` (no ground "
                    "truth, no mixes): issue 14's ≤ 2 min at 3M rows")
    args = ap.parse_args()
    cluster = start_cluster(settings={"shared_buffers": "'128MB'", "max_wal_size": "'4GB'"})
    try:
        admin = cluster.dsn()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_target")
            conn.execute("CREATE DATABASE bench_scratch")
        target, scratch = cluster.dsn("bench_target"), cluster.dsn("bench_scratch")
        t0 = time.monotonic()
        with psycopg.connect(target, autocommit=True) as conn:
            for part in LOAD.format(n=args.rows, tenants=TENANTS).split(";\n"):
                if part.strip():
                    conn.execute(part)
        print(f"loaded {args.rows:,} rows in {time.monotonic() - t0:.0f} s", flush=True)
        with psycopg.connect(target, autocommit=True) as conn:
            try:
                conn.execute("CREATE EXTENSION hypopg")
            except psycopg.Error as exc:
                print(f"no hypopg ({exc}): the index advice is heuristic", flush=True)
        if args.e2e_only:
            _print_end_to_end(args.rows, timed_end_to_end(target, scratch, cluster.datadir))
            return
        stmts = statements()
        with connect(target) as tconn, open_scratch(scratch, tconn) as scr:
            profile = table_profile(tconn, TABLE)
            mine = table_statements(stmts, ["public"])[TABLE]
            built = every_candidate(profile, mine)
            print(f"candidates any mix may propose: {[c.label for c in built]}", flush=True)
            t0 = time.monotonic()
            copies = build_copies(tconn, scr, TABLE, profile, built)
            results = cost_statements(tconn, copies, profile, mine, (guard.load(tconn), guard.load(scr.conn)))
            print(f"advisor copies and costs: {time.monotonic() - t0:.0f} s; skipped: "
                  f"{[(r.stmt.queryid, r.skipped) for r in results if r.skipped]}", flush=True)
            indexes = copies.indexes
            none = copies.by_label["none"].name
            query = "SELECT relname, relallvisible, relpages FROM pg_class WHERE relname IN ({}, {})"
            seen = scr.execute(sql.SQL(query).format(sql.Literal(none), sql.Literal(none[:-4] + "c0_5")))
            print("  all-visible pages of the advisor's copies: " + ", ".join(f"{n} {v}/{p}" for n, v, p in seen),
                  flush=True)
        truth = ground_truth(target, profile, built, results, indexes)
        print("\nfamily          " + "".join(f"{c.label:>26}" for c in built))
        for r in results:
            cells = []
            for c in built:
                cost = truth.get((r.stmt.queryid, c.label), (math.nan, 0))[0]
                ratio = r.ratio(c.label) if c.spec else 1.0
                full = cost / truth[(r.stmt.queryid, "none")][0] if truth.get((r.stmt.queryid, "none")) else math.nan
                cells.append(f"{full:>8.3f} vs {ratio or math.nan:>6.3f} ({cost:>8.0f})")
            print(f"{r.stmt.queryid:<16}" + "".join(f"{x:>26}" for x in cells))
        print("  (full-size ratio vs the copies' ratio, and the full-size cost)")
        rng = random.Random(args.seed)
        mixes = [one_mix(rng, profile, results, truth) for _ in range(args.mixes)]
        print("\nmixed workloads: call weights 1–10,000 for every family")
        _summary(mixes)
        oltp = [one_mix(rng, profile, results, truth, oltp=True) for _ in range(args.oltp_mixes)]
        if oltp:
            print("\nOLTP-heavy workloads: point lookups, tenant lookups and inserts 10^3–10^6 calls, the rest 1–1,000")
            _summary(oltp)
            print("\nall mixes together:")
            _summary(mixes + oltp, table=False)
        e2e = timed_end_to_end(target, scratch, cluster.datadir)
        _print_end_to_end(args.rows, e2e)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"mixes": mixes, "oltp_mixes": oltp, "end_to_end": e2e}, fh, indent=1)
    finally:
        cluster.stop()


def _table(mixes: list[dict]) -> None:
    print(f"\n{'mix':>4} {'k':>3} {'advisor':>22} {'ground truth':>22} {'argmin':>22} {'regret':>8} {'max err':>8}")
    for i, m in enumerate(mixes):
        err = max(m["errors"].values(), default=0.0)
        print(f"{i:>4} {len(m['families']):>3} {m['advisor']:>22} {m['truth']:>22} {m['argmin']:>22} "
              f"{m['regret']:>8.1%} {err:>8.1%}")


def _summary(mixes: list[dict], table: bool = True) -> None:
    if table:
        _table(mixes)
    hits = sum(m["advisor"] == m["truth"] for m in mixes)
    argmin_hits = sum(m["advisor"] == m["argmin"] for m in mixes)
    errs = [e for m in mixes for e in m["errors"].values()]
    print(f"\npicks the ground truth's layout: {hits}/{len(mixes)} ({hits / len(mixes):.0%}); the raw argmin "
          f"of full-size cost: {argmin_hits}/{len(mixes)}")
    print(f"mean regret {statistics.mean(m['regret'] for m in mixes):.1%}, max {max(m['regret'] for m in mixes):.1%}")
    if errs:
        print(f"ratio-transfer error on the weighted ratio: mean {statistics.mean(errs):.1%}, "
              f"median {statistics.median(errs):.1%}, max {max(errs):.1%} ({len(errs)} mix × candidate)")
    print(f"mixes whose ground truth is none: {sum(m['truth'] == 'none' for m in mixes)}; advisor says none: "
          f"{sum(m['advisor'] == 'none' for m in mixes)}")
    print(f"'partition' where the ground truth says none: {sum(m['false_partition'] for m in mixes)}; "
          f"advice that raises weighted buffers on the validation copy: {sum(m['more_buffers'] for m in mixes)}")


if __name__ == "__main__":
    main()
