"""Synthetic labelled stores for issue 12: weeks of 5–10-minute snapshots written straight into a store.

    python tests/bench/synth_store.py OUT.sqlite [--days 30] [--step 600] [--templates 1000] [--clean] [--seed 1]

writes the store and OUT.truth.json (the ground truth). From Python: `generate(path, ...)` → the truth dict.

Planted per template (`pattern`): `flat`, `daily` (sinusoidal day cycle), `weekly` (day cycle, quieter
weekends), `growth` (linear trend over the span), `scheduled` (a job at a fixed time of day or minute of the
hour, nothing in between), `adhoc` (rare, sparse calls). Some templates have several queryids (IN lists of
different lengths: `queryids`, `texts`); calls split between them.

Injected incidents (none with `clean=True`), on templates with at least `INCIDENT_MIN_CALLS` calls per interval,
after a warm-up of `WARMUP_DAYS` days, never overlapping on one template (`incidents`, each with `kind`,
`template`, `queryid`, `start`/`end` (epoch s, the first and last interval's end), `start_seq`/`end_seq`,
`factor`):
- `regression`: mean time × 1.5 / 2 / 3 as a level shift lasting 6 h – 3 days;
- `spike`: mean time × 5–10 for 1–2 intervals;
- `plan_change`: a new plan hash (in the store's `plans` table) from `start_seq` on, mean time × 1–2;
- `cache_drop`: shared-buffer hit ratio falls from ~0.99 to ~0.7 (reads × 30), mean time × 1.5, 6–24 h;
- `temp_spill`: temp blocks written appear (none before), mean time × 2, 6–24 h.
Server-level (`server_incidents`): a `deadlocks` burst in one interval and a `connections` surge (numbackends × 3
for 3 intervals), in the `database`/`activity` parts every snapshot carries (as collect writes them).

What is written: servers, snapshots (seq 1 is the baseline, seq k ends interval k-1), texts, statements,
stat_totals (running totals of calls, total_exec_time, rows, shared_blks_hit/read, temp_blks_written,
wal_bytes; rows only where a statement moved, as the real write path does), plans (hash changes only) and
per-snapshot `database`/`activity` parts; a daily `relations` part (table growth, dead tuples). Noise: calls
are Poisson; each interval's mean time is lognormal around the template's mean with a per-call sigma of
`CALL_SIGMA` shrunk by sqrt(calls) plus a server-wide load factor of sigma `LOAD_SIGMA`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pgadvisor.store import open_store  # noqa: E402
from pgadvisor.store.backend import pack  # noqa: E402

DAY = 86400.0
WEEK = 7 * DAY
SERVER = "synth"
PATTERNS = ("flat", "daily", "weekly", "growth", "scheduled", "adhoc")
PATTERN_WEIGHTS = (0.2, 0.3, 0.2, 0.1, 0.1, 0.1)
# Per-call execution-time spread (lognormal sigma): a choice, wide enough that one call in ~40 takes over
# 3× the median, as pg_stat_statements' stddev_exec_time commonly shows for OLTP statements.
CALL_SIGMA = 0.6
LOAD_SIGMA = 0.05  # server-wide load factor per interval (lognormal sigma): a choice
INCIDENT_MIN_CALLS = 2.0  # mean calls per interval a template needs to carry a mean-time incident
WARMUP_DAYS = 7  # no incident before this: a detector needs a history
REGRESSION_FACTORS = (1.5, 2.0, 3.0)
INCIDENT_SHARE = 0.06  # share of eligible templates with an incident (a choice: ~40 events per 1,000 templates)
COUNTERS = ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read", "temp_blks_written",
            "wal_bytes")


def _templates(rnd: np.random.Generator, n: int, step: float) -> list[dict]:
    out = []
    for k in range(n):
        pattern = str(rnd.choice(PATTERNS, p=PATTERN_WEIGHTS))
        rate = float(np.exp(rnd.normal(math.log(8), 1.3)))  # calls per interval
        if pattern == "adhoc":
            rate = float(rnd.uniform(0.01, 0.2))
        t = {"template": k, "pattern": pattern, "rate": rate * step / 600.0,
             "mean_ms": float(np.exp(rnd.normal(math.log(2.0), 1.2))), "rows_per_call": float(rnd.integers(1, 50)),
             "blks_per_call": float(rnd.integers(3, 200)), "hit": float(rnd.uniform(0.97, 0.999)),
             "writes": bool(rnd.random() < 0.2), "amp": float(rnd.uniform(0.3, 0.8)),
             "phase": float(rnd.uniform(0, 2 * math.pi)), "weekend": float(rnd.uniform(0.3, 0.7)),
             "growth": float(rnd.uniform(0.3, 1.0))}
        if pattern == "scheduled":
            every = str(rnd.choice(["day", "hour"]))
            t["schedule"] = {"every": every,
                             "at_s": float(rnd.integers(0, 24) * 3600 if every == "day" else rnd.integers(0, 6) * 600),
                             "calls": int(rnd.integers(1, 20))}
            t["mean_ms"] *= 200
        variants = 1 if rnd.random() > 0.1 else int(rnd.integers(2, 4))
        t["texts"] = [_text(k, v, t["writes"]) for v in range(variants)]
        t["queryids"] = [str(900_000_000 + k * 10 + v) for v in range(variants)]
        out.append(t)
    return out


def _text(k: int, variant: int, writes: bool) -> str:
    table = f"t{k % 97}"
    if writes:
        ids = ", ".join(f"${i + 2}" for i in range(variant + 1))
        return f"UPDATE {table} SET v = $1, n{k} = n{k} + 1 WHERE id IN ({ids})"
    ins = ", ".join(f"${i + 1}" for i in range(variant + 1))
    if k % 5 == 4:
        return (f"SELECT c.k{k}, count(*), sum(o.amount) FROM {table} o JOIN t{(k + 1) % 97} c ON c.id = o.c_id "
                f"WHERE o.day >= $1 AND c.kind IN ({ins}) GROUP BY c.k{k}")
    return f"SELECT id, a{k}, b FROM {table} WHERE id IN ({ins}) AND c{k % 7} > 0"


def _rates(t: dict, ends: np.ndarray, start: float, step: float) -> np.ndarray:
    """Expected calls per interval for one template."""
    day_pos = (ends % DAY) / DAY * 2 * math.pi
    p = t["pattern"]
    r = np.full(len(ends), t["rate"])
    if p in ("daily", "weekly"):
        r = r * (1 + t["amp"] * np.sin(day_pos + t["phase"]))
    if p == "weekly":
        weekday = ((ends // DAY) + 3) % 7  # 1970-01-01 was a Thursday: 5, 6 are Saturday, Sunday
        r = r * np.where(weekday >= 5, t["weekend"], 1.0)
    if p == "growth":
        r = r * (1 + t["growth"] * (ends - start) / (ends[-1] - start))
    if p == "scheduled":
        s = t["schedule"]
        period = DAY if s["every"] == "day" else 3600.0
        hit = ((ends - step - s["at_s"]) % period) < step  # the job's start falls inside the interval
        r = np.where(hit, float(s["calls"]), 0.0)
    return r


def _incidents(rnd: np.random.Generator, tpls: list[dict], ends: np.ndarray, step: float) -> list[dict]:
    n = len(ends)
    first = int(np.searchsorted(ends, ends[0] + WARMUP_DAYS * DAY))
    eligible = [t for t in tpls if t["pattern"] not in ("adhoc", "scheduled") and t["rate"] >= INCIDENT_MIN_CALLS
                and len(t["queryids"]) == 1]
    kinds = ["regression"] * 3 + ["spike", "plan_change", "cache_drop", "temp_spill"]
    # at least one of each kind, even in a small store
    size = min(len(eligible), max(len(kinds), int(len(tpls) * INCIDENT_SHARE)))
    pick = rnd.choice(len(eligible), size=size, replace=False)
    per_hour = int(3600 / step)
    out = []
    for j, i in enumerate(pick):
        t = eligible[int(i)]
        kind = kinds[j % len(kinds)]
        if kind == "regression":
            factor = REGRESSION_FACTORS[(j // len(kinds)) % len(REGRESSION_FACTORS)]
            length = int(rnd.integers(6 * per_hour, 72 * per_hour))
        elif kind == "spike":
            factor, length = float(rnd.uniform(5, 10)), int(rnd.integers(1, 3))
        elif kind == "plan_change":
            factor, length = float(rnd.choice([1.0, 1.5, 2.0])), n  # until the end
        else:
            factor = 1.5 if kind == "cache_drop" else 2.0
            length = int(rnd.integers(6 * per_hour, 24 * per_hour))
        s = int(rnd.integers(first, n - 2 * per_hour))
        e = min(n - 1, s + length - 1)
        out.append({"kind": kind, "template": t["template"], "queryid": t["queryids"][0], "factor": factor,
                    "start_idx": s, "end_idx": e})
    return out


def _activity(rnd: np.random.Generator, tpls: list[dict], ends: np.ndarray, start: float, step: float,
              incidents: list[dict]) -> dict[str, np.ndarray]:
    """Per template (columns) per interval (rows): every counter's delta."""
    n, m = len(ends), len(tpls)
    rates = np.stack([_rates(t, ends, start, step) for t in tpls], axis=1)
    calls = rnd.poisson(rates).astype(np.int64)
    mean = np.array([t["mean_ms"] for t in tpls])[None, :] * np.ones((n, 1))
    hit = np.array([t["hit"] for t in tpls])[None, :] * np.ones((n, 1))
    temp = np.zeros((n, m))
    for inc in incidents:
        sl, c = slice(inc["start_idx"], inc["end_idx"] + 1), inc["template"]
        if inc["kind"] == "cache_drop":
            hit[sl, c] = 0.7
        if inc["kind"] == "temp_spill":
            temp[sl, c] = 50.0
        mean[sl, c] *= inc["factor"]
    load = np.exp(rnd.normal(0, LOAD_SIGMA, size=(n, 1)))
    noise = np.exp(rnd.normal(0, 1, size=(n, m)) * CALL_SIGMA / np.sqrt(np.maximum(calls, 1)))
    # lognormal per call: the mean of one call is exp(sigma^2/2) × the median
    per_call = mean * load * noise * math.exp(CALL_SIGMA ** 2 / 2)
    blks = calls * np.array([t["blks_per_call"] for t in tpls])[None, :]
    writes = np.array([t["writes"] for t in tpls])[None, :]
    return {"calls": calls, "total_exec_time": calls * per_call,
            "rows": calls * np.array([t["rows_per_call"] for t in tpls])[None, :].astype(np.int64),
            "shared_blks_hit": np.round(blks * hit).astype(np.int64),
            "shared_blks_read": np.round(blks * (1 - hit)).astype(np.int64),
            "temp_blks_written": np.round(calls * temp).astype(np.int64),
            "wal_bytes": (calls * writes * 300).astype(np.int64)}


def _split(rnd: np.random.Generator, tpls: list[dict], act: dict[str, np.ndarray]) -> tuple[list[dict], dict]:
    """Per statement (a template's queryid variants share its activity: its calls are dealt to them at random,
    each variant's other counters in proportion): (statements, counter → n × S array)."""
    stmts, parts = [], {name: [] for name in act}
    calls = act["calls"]
    for t in tpls:
        k, j = len(t["queryids"]), t["template"]
        dealt = rnd.multinomial(calls[:, j], rnd.dirichlet(np.ones(k))) if k > 1 else calls[:, j:j + 1]
        share = dealt / np.maximum(calls[:, j:j + 1], 1)
        for v in range(k):
            stmts.append({"template": j, "queryid": t["queryids"][v], "query": t["texts"][v]})
            for name, a in act.items():
                x = dealt[:, v] if name == "calls" else a[:, j] * share[:, v]
                parts[name].append(x if name == "total_exec_time" else np.round(x).astype(np.int64))
    return stmts, {name: np.stack(cols, axis=1) for name, cols in parts.items()}


def _server_parts(rnd: np.random.Generator, n: int, ends: np.ndarray, act: dict, tpls: list[dict],
                  inc: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per snapshot (n + 1): the database part's one row and the activity part; the rows' cumulative counters."""
    xact = np.concatenate([[1_000_000], 1_000_000 + np.cumsum(act["calls"].sum(axis=1))])
    hit = np.concatenate([[0], np.cumsum(act["shared_blks_hit"].sum(axis=1))])
    read = np.concatenate([[0], np.cumsum(act["shared_blks_read"].sum(axis=1))])
    temp = np.concatenate([[0], np.cumsum(act["temp_blks_written"].sum(axis=1))])
    dl = np.zeros(n + 1, dtype=np.int64)
    conns = np.concatenate([[20], 20 + rnd.poisson(act["calls"].sum(axis=1) / 200.0)]).astype(np.int64)
    for i in inc:
        if i["kind"] == "deadlocks":
            dl[i["start_idx"] + 1] += int(i["factor"])
        if i["kind"] == "connections":
            conns[i["start_idx"] + 1:i["end_idx"] + 2] *= int(i["factor"])
    deadlocks = np.cumsum(dl)
    db_rows = [{"dbid": 5, "datname": "app", "numbackends": int(conns[k]), "xact_commit": int(xact[k]),
                "xact_rollback": 0, "blks_hit": int(hit[k]), "blks_read": int(read[k]), "temp_files": 0,
                "temp_bytes": int(temp[k]) * 8192, "deadlocks": int(deadlocks[k]), "conflicts": 0,
                "stats_reset": 1.0, "size_bytes": 10_000_000_000} for k in range(n + 1)]
    acts = [{"activity": [{"state": "active", "wait_event_type": "", "n": int(max(1, conns[k] // 4)),
                           "longest_xact_s": 1.0},
                          {"state": "idle", "wait_event_type": "", "n": int(conns[k] - max(1, conns[k] // 4)),
                           "longest_xact_s": 0.0}], "locks": []} for k in range(n + 1)]
    return db_rows, acts


def generate(path: str | Path, *, days: float = 30, step: float = 600, templates: int = 1000, clean: bool = False,
             seed: int = 1, end: float | None = None, server: str = SERVER) -> dict:
    """Write a synthetic store at `path` (a new SQLite file) and return its ground truth."""
    rnd = np.random.default_rng(seed)
    n = int(days * DAY / step)  # intervals
    end = float(end if end is not None else (time.time() // step) * step)
    start = end - n * step
    ends = start + step * np.arange(1, n + 1)
    tpls = _templates(rnd, templates, step)
    inc = [] if clean else _incidents(rnd, tpls, ends, step)
    act = _activity(rnd, tpls, ends, start, step, inc)
    stmts, per = _split(rnd, tpls, act)
    srv = [] if clean else _server_incidents(rnd, ends)
    db_rows, acts = _server_parts(rnd, n, ends, act, tpls, srv)
    with open_store(str(path)) as st, st.write():
        sid = st.server_id(server, create=True)
        _write_snapshots(st, sid, start, step, n, len(stmts), db_rows, acts, tpls, ends)
        ids = _write_statements(st, sid, stmts)
        _write_totals(st, sid, ids, per)
        _write_plans(st, ids, stmts, tpls, inc)
    for i in [*inc, *srv]:
        i.update(start=float(ends[i["start_idx"]]), end=float(ends[i["end_idx"]]),
                 start_seq=i["start_idx"] + 2, end_seq=i["end_idx"] + 2)
    return {"server": server, "step_s": step, "start": start, "end": end, "intervals": n, "seed": seed,
            "clean": clean, "templates": [{k: v for k, v in t.items() if k not in ("amp", "phase")} for t in tpls],
            "statements": stmts, "incidents": inc, "server_incidents": srv}


def _server_incidents(rnd: np.random.Generator, ends: np.ndarray) -> list[dict]:
    n = len(ends)
    first = int(np.searchsorted(ends, ends[0] + WARMUP_DAYS * DAY))
    s1, s2 = (int(x) for x in rnd.integers(first, n - 10, size=2))
    return [{"kind": "deadlocks", "metric": "deadlocks", "factor": float(rnd.integers(5, 20)), "start_idx": s1,
             "end_idx": s1},
            {"kind": "connections", "metric": "connections", "factor": 3.0, "start_idx": s2, "end_idx": s2 + 2}]


def _write_snapshots(st, sid: int, start: float, step: float, n: int, n_stmt: int, db_rows: list, acts: list,
                     tpls: list[dict], ends: np.ndarray) -> None:
    per_day = int(DAY / step)
    rows = []
    for k in range(n + 1):
        at = start + k * step
        read_at = at - (k % per_day) * step  # table counters read once a day (collect re-uses them in between)
        rows.append((sid, k + 1, at, "42", "15.0", 150000, 1.0, "app", 5, "1.10", 0, 1.0, n_stmt, 0, 0, 0, 0, None,
                     0 if k == 0 else 1, 10.0, read_at))
    st.executemany(
        "INSERT INTO snapshots (server_id, seq, taken_at, system_identifier, server_version, version_num, "
        "postmaster_start, datname, dbid, pgss_version, pgss_dealloc, pgss_stats_reset, n_statements, n_hidden, "
        "n_changed, n_evicted, dealloc_delta, reset_reason, intervals, duration_ms, schema_read_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    snap_ids = dict(st.query("SELECT seq, id FROM snapshots WHERE server_id = ?", (sid,)))
    blobs, links = {}, []
    for k in range(n + 1):
        parts = {"database": [db_rows[k]], "activity": acts[k]}
        if k % per_day == 0:
            day = k // per_day
            rels = parts["relations"] = [
                {"schema": "public", "name": f"t{i}", "n_live_tup": 1000 * (i + 1) * (1 + 0.02 * day),
                 "n_dead_tup": 50 * (i + 1) * (1 + (day % 7)), "total_bytes": 8192 * 100 * (i + 1) * (1 + 0.02 * day)}
                for i in range(97)]
            last_rel = rels
        else:
            parts["relations"] = last_rel
        for kind, value in parts.items():
            h, data = pack(value)
            blobs[h] = data
            links.append((snap_ids[k + 1], kind, h))
    st.executemany("INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", list(blobs.items()))
    st.executemany("INSERT INTO snapshot_parts (snapshot_id, kind, hash) VALUES (?, ?, ?)", links)


def _write_statements(st, sid: int, stmts: list[dict]) -> list[int]:
    st.executemany("INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
                   [(f"synth{s['queryid']}", s["query"]) for s in stmts])
    st.executemany("INSERT INTO statements (server_id, queryid, userid, dbid, toplevel, text_hash, own) "
                   "VALUES (?, ?, 10, 5, 1, ?, 0)", [(sid, s["queryid"], f"synth{s['queryid']}") for s in stmts])
    ids = dict(st.query("SELECT queryid, id FROM statements WHERE server_id = ?", (sid,)))
    return [ids[s["queryid"]] for s in stmts]


def _write_totals(st, sid: int, ids: list[int], per: dict[str, np.ndarray], chunk: int = 100) -> None:
    """Running totals where a statement moved (interval i ends at seq i + 2; seq 1 is the baseline)."""
    cols = ", ".join(f"t_{c}" for c in COUNTERS)
    sql = f"INSERT INTO stat_totals (server_id, statement_id, seq, {cols}) VALUES (?, ?, ?{', ?' * len(COUNTERS)})"
    calls = per["calls"]
    for a in range(0, len(ids), chunk):
        sl = slice(a, a + chunk)
        cum = [np.cumsum(per[c][:, sl], axis=0) for c in COUNTERS]
        moved = calls[:, sl] > 0
        ii, jj = np.nonzero(moved)
        values = [c[ii, jj] for c in cum]
        rows = [(sid, ids[a + j], i + 2, *(int(v) if k != 1 else float(v) for k, v in enumerate(vals)))
                for i, j, vals in zip(ii.tolist(), jj.tolist(), zip(*[v.tolist() for v in values]))]
        st.executemany(sql, rows)


def _write_plans(st, ids: list[int], stmts: list[dict], tpls: list[dict], inc: list[dict]) -> None:
    """A plan for every statement of a non-ad-hoc template at seq 1; plan_change incidents add a new hash."""
    by_q = dict(zip([s["queryid"] for s in stmts], ids))
    rows = [(by_q[s["queryid"]], 1, f"p{s['queryid']}a", 100.0) for s in stmts
            if tpls[s["template"]]["pattern"] != "adhoc"]
    rows += [(by_q[i["queryid"]], i["start_idx"] + 2, f"p{i['queryid']}b", 150.0) for i in inc
             if i["kind"] == "plan_change"]
    st.executemany("INSERT INTO plans (statement_id, seq, plan_hash, total_cost) VALUES (?, ?, ?, ?)", rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the new store's path (SQLite); the truth goes to OUT.truth.json")
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--step", type=float, default=600, help="seconds between snapshots")
    ap.add_argument("--templates", type=int, default=1000)
    ap.add_argument("--clean", action="store_true", help="no incidents")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if Path(args.out).exists():
        raise SystemExit(f"{args.out} exists")
    t0 = time.perf_counter()
    truth = generate(args.out, days=args.days, step=args.step, templates=args.templates, clean=args.clean,
                     seed=args.seed)
    Path(args.out + ".truth.json").write_text(json.dumps(truth, indent=1))
    print(f"{args.out}: {truth['intervals']} intervals x {len(truth['statements'])} statements "
          f"({args.templates} templates), {len(truth['incidents'])} incidents, {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
