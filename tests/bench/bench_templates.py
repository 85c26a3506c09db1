"""Benchmark templates beyond queryid: how well `analyze.templates` groups labelled statement texts.

Run on purpose (not collected by pytest):

    python tests/bench/bench_templates.py [--variants 12] [--seed 1] [--no-pg]

Labelled texts, generated here:
- bases: the 19 TPC-H templates of tests/bench/tpc.py with random substitution parameters (TPC-H §2.4),
  the 6 statements of pgbench's built-in scripts, and the 24 statements of the e-commerce fixture
  (pgadvisor/data/ecommerce/workload.toml), each with random literal parameters;
- for every base, a *mutant* that is a different statement (an operator, a sort direction or a
  predicate changed): its own true template, so a method that merges too much loses purity;
- for every (mutant or base) template, `--variants` texts: new random parameters each time, and at
  random IN lists of another length, extra whitespace / line breaks, comments, upper or lower case
  keywords, casts on the constants (`'5'::int`, `date '…'`, `CAST(… AS date)`), renamed aliases, and
  pg_stat_statements' own text (every constant replaced by `$n`).

Baseline: PostgreSQL 15's real `queryid` of every text, from `EXPLAIN (VERBOSE)` ("Query Identifier",
compute_query_id) on a throwaway PG15 cluster holding the three schemas (empty tables); a `$n` text
gets the queryid of the literal text it was made from (pg_stat_statements computes it there).
Texts PostgreSQL rejects are dropped from both scores and counted. `--no-pg` skips the baseline.

Scores: adjusted Rand index (sklearn.metrics.adjusted_rand_score) against the true templates, purity
(share of texts whose predicted group's majority label is theirs) and the count of groups that merge
two true templates. Goals (issue 12): ARI >= 0.98, purity >= 0.995.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from pgadvisor.analyze.templates import template_key  # noqa: E402

GOAL_ARI = 0.98
GOAL_PURITY = 0.995

TPCH_DDL = """
CREATE TABLE region (r_regionkey int, r_name text, r_comment text);
CREATE TABLE nation (n_nationkey int, n_name text, n_regionkey int, n_comment text);
CREATE TABLE part (p_partkey int, p_name text, p_mfgr text, p_brand text, p_type text, p_size int,
  p_container text, p_retailprice numeric(15,2), p_comment text);
CREATE TABLE supplier (s_suppkey int, s_name text, s_address text, s_nationkey int, s_phone text,
  s_acctbal numeric(15,2), s_comment text);
CREATE TABLE partsupp (ps_partkey int, ps_suppkey int, ps_availqty int, ps_supplycost numeric(15,2), ps_comment text);
CREATE TABLE customer (c_custkey int, c_name text, c_address text, c_nationkey int, c_phone text,
  c_acctbal numeric(15,2), c_mktsegment text, c_comment text);
CREATE TABLE orders (o_orderkey int, o_custkey int, o_orderstatus text, o_totalprice numeric(15,2),
  o_orderdate date, o_orderpriority text, o_clerk text, o_shippriority int, o_comment text);
CREATE TABLE lineitem (l_orderkey int, l_partkey int, l_suppkey int, l_linenumber int, l_quantity numeric(15,2),
  l_extendedprice numeric(15,2), l_discount numeric(15,2), l_tax numeric(15,2), l_returnflag text,
  l_linestatus text, l_shipdate date, l_commitdate date, l_receiptdate date, l_shipinstruct text,
  l_shipmode text, l_comment text);
"""
PGBENCH_DDL = """
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
"""
# pgbench's built-in tpcb-like and simple-update scripts (src/bin/pgbench/pgbench.c), :vars as %s
PGBENCH = [
    ("UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s", ["int", "int"]),
    ("SELECT abalance FROM pgbench_accounts WHERE aid = %s", ["int"]),
    ("UPDATE pgbench_tellers SET tbalance = tbalance + %s WHERE tid = %s", ["int", "int"]),
    ("UPDATE pgbench_branches SET bbalance = bbalance + %s WHERE bid = %s", ["int", "int"]),
    ("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP)",
     ["int", "int", "int", "int"]),
    ("SELECT count(*) FROM pgbench_accounts WHERE bid = %s AND abalance > %s", ["int", "int"]),
]
_ECOMMERCE_TABLES = {"users", "products", "cart_items", "orders", "order_items"}
_WORDS = ["BUILDING", "MACHINERY", "AUTOMOBILE", "red", "green", "Brand#23", "MED BOX", "US", "DE", "x%"]
_SKIP_ALIAS = {"date", "int", "integer", "numeric", "text", "interval", "timestamp", "bigint", "varchar",
               "double", "real", "boolean", "char", "decimal", "float", "smallint"}


def _literal(v, rng: random.Random) -> str:
    if isinstance(v, (dt.date, dt.datetime)):
        s = v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
        form = rng.randrange(3)
        return (f"date '{s}'", f"'{s}'::date", f"CAST('{s}' AS date)")[form] if not isinstance(
            v, dt.datetime) else f"'{s}'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, int) and rng.random() < 0.2:
        return f"{v}::int"
    return str(v)


def _ecommerce_value(spec: str, rng: random.Random):
    kind, _, rest = spec.partition(":")
    if kind == "choice":
        return rng.choice(rest.split(",")).split("*")[0]
    if kind == "address":
        return json.dumps({"country": rng.choice(["US", "DE", "JP"]), "city": f"c{rng.randint(1, 99)}"})
    if kind == "email":
        return f"user{rng.randint(1, 9999)}@example.com"
    if kind == "ts_ago_days":
        return dt.datetime(2024, 6, 1) - dt.timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399))
    if kind == "num":
        return round(rng.uniform(1, 500), 2)
    if kind == "text":
        return rng.choice(_WORDS)
    return rng.randint(1, 100_000)


def bases(seed: int) -> list[tuple[str, str, object]]:
    """(name, text with %s, parameter maker) of every base statement."""
    import tpc

    from pgadvisor.demo_data import load_workload_spec

    out = [(f"tpch-q{n}", sql, (lambda r, g=gen: g(r, 1.0) if g is tpc._q11 else g(r)))
           for n, (sql, gen) in sorted(tpc.TPCH_TEMPLATES.items())]
    for i, (sql, kinds) in enumerate(PGBENCH):
        out.append((f"pgbench-{i}", sql, lambda r, k=kinds: [r.randint(-5000, 100_000) for _ in k]))
    for e in load_workload_spec():
        sql = re.sub(r"\$(\d+)(?!\d)", lambda m: "{" + str(int(m.group(1)) - 1) + "}", e.sql)
        sql = sql.replace("%", "%%")
        sql = re.sub(r"\{(\d+)\}", lambda m: f"%({m.group(1)})s", sql)
        specs = [p.text for p in e.params]
        out.append((f"ecommerce-{e.name}", sql,
                    lambda r, s=specs: {str(i): _ecommerce_value(x, r) for i, x in enumerate(s)}))
    return out


def render(sql: str, params, rng: random.Random) -> str:
    if isinstance(params, dict):
        return sql % {k: _literal(v, rng) for k, v in params.items()}
    return sql % tuple(_literal(v, rng) for v in params)


# one structural change per mutant (the first that applies): each makes a different statement
_MUTATIONS = [(r"<=", "<"), (r">=", ">"), (r"(?i)\bdesc\b", "asc"), (r"= (%s|%\(0\)s)", r"<> \1")]


def mutate(sql: str) -> str | None:
    for pattern, repl in _MUTATIONS:
        if re.search(pattern, sql):
            return re.sub(pattern, repl, sql, count=1)
    return None


_IN_LIST = re.compile(r"(?i)\bin\s*\(\s*((?:'[^']*'|-?\d+(?:\.\d+)?)(?:\s*,\s*(?:'[^']*'|-?\d+(?:\.\d+)?))+)\s*\)")


def _in_lengths(text: str, rng: random.Random) -> str:
    def one(m: re.Match) -> str:
        items = re.findall(r"'[^']*'|-?\d+(?:\.\d+)?", m.group(1))
        n = rng.randint(1, 12)
        return "in (" + ", ".join(rng.choice(items) for _ in range(n)) + ")"
    return _IN_LIST.sub(one, text)


def _aliases(text: str, rng: random.Random) -> str:
    """Rename the aliases (not those named like a table, which a word-level rename would also hit)."""
    tables = set(re.findall(r"(?i)create table (\w+)", TPCH_DDL + PGBENCH_DDL)) | _ECOMMERCE_TABLES
    names = {a for a in re.findall(r"(?i)\bas\s+([a-z_][a-z_0-9]*)", text)
             if a.lower() not in _SKIP_ALIAS and a.lower() not in tables}
    names |= set(re.findall(r"(?i)\b(?:lineitem|nation|orders|customer|supplier)\s+([a-z]\d)\b", text))
    for name in names:
        new = f"{name}_{rng.randint(10, 99)}"
        text = re.sub(rf"(?<!['\w.]){re.escape(name)}\b(?!')", new, text)
    return text


def _whitespace(text: str, rng: random.Random) -> str:
    return re.sub(r" ", lambda m: rng.choice([" ", "  ", "\n  ", "\t", " "]), text)


def _comment(text: str, rng: random.Random) -> str:
    c = rng.choice([f"/* app=web req={rng.randint(1, 10**6)} */ ", f"-- job {rng.randint(1, 99)}\n"])
    return c + text if rng.random() < 0.7 else f"{text} /* trace {rng.randint(1, 999)} */"


def _case(text: str, rng: random.Random) -> str:
    kw = (r"(?i)\b(select|from|where|and|or|group by|order by|limit|join|on|as|in|not|exists|update|set|insert"
          r"|into|values)\b")
    up = rng.random() < 0.5
    return re.sub(kw, lambda m: m.group(0).upper() if up else m.group(0).lower(), text)


# a leading minus belongs to the constant (pg_stat_statements' fill_in_constant_lengths)
_CONST = re.compile(r"'(?:[^']|'')*'|(?<![\w$.])-?\d+(?:\.\d+)?")


def pgss_text(text: str) -> str:
    """pg_stat_statements' normalized text: every constant `$n`, comments kept out."""
    text = re.sub(r"/\*.*?\*/|--[^\n]*", "", text, flags=re.S).strip()
    n = iter(range(1, 10_000))
    # GROUP BY 1 / ORDER BY 1 are positions, not constants: pg_stat_statements keeps them
    parts = re.split(r"(?i)((?:group|order)\s+by\s+\d+(?:\s*,\s*\d+)*)", text)
    return "".join(p if i % 2 else _CONST.sub(lambda m: f"${next(n)}", p) for i, p in enumerate(parts))


def variants(label: str, sql: str, maker, k: int, rng: random.Random) -> list[tuple[str, str, str | None]]:
    """(label, text, literal source text) for k variants; the source is None for a literal text."""
    out = []
    for i in range(k):
        text = render(sql, maker(rng), rng)
        for change in (_in_lengths, _aliases, _whitespace, _comment, _case):
            if rng.random() < 0.5:
                text = change(text, rng)
        if i % 4 == 3:
            out.append((label, pgss_text(text), text))
        else:
            out.append((label, text, None))
    return out


def dataset(k: int, seed: int) -> list[tuple[str, str, str | None]]:
    rng = random.Random(seed)
    rows = []
    for name, sql, maker in bases(seed):
        rows += variants(name, sql, maker, k, rng)
        m = mutate(sql)
        if m is not None and m != sql:
            rows += variants(name + "~mutant", m, maker, k, rng)
    return rows


def real_queryids(rows: list[tuple[str, str, str | None]]) -> list[str | None]:
    """PostgreSQL 15's queryid of each text (of its literal source for a `$n` text); None if rejected."""
    import psycopg

    from pgadvisor.demo_data import _read_fixture, split_steps
    from pgadvisor.pg.local import start_cluster

    cluster = start_cluster(settings={"compute_query_id": "on"})
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE tpch")
            admin.execute("CREATE DATABASE shop")  # its orders table is not TPC-H's
            print(f"PostgreSQL {admin.info.server_version}", flush=True)
        conns = {name: psycopg.connect(cluster.dsn(name), autocommit=True) for name in ("tpch", "shop")}
        for stmt in filter(str.strip, (TPCH_DDL + PGBENCH_DDL).split(";")):
            conns["tpch"].execute(stmt)
        for step, body in split_steps(_read_fixture("schema.sql")):
            if step == "tables":
                conns["shop"].execute(body)
        cache: dict[str, str | None] = {}
        out = []
        for label, text, source in rows:
            lit = source or text
            conn = conns["shop" if label.startswith("ecommerce") else "tpch"]
            if lit not in cache:
                try:
                    plan = conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {lit}").fetchall()
                    cache[lit] = next((r[0].split(":", 1)[1].strip() for r in plan
                                       if r[0].startswith("Query Identifier")), None)
                except psycopg.Error:
                    cache[lit] = None
            out.append(cache[lit])
        for c in conns.values():
            c.close()
        return out
    finally:
        cluster.stop()


def scores(truth: list[str], pred: list[str]) -> dict:
    from sklearn.metrics import adjusted_rand_score

    groups: dict[str, Counter] = defaultdict(Counter)
    for t, p in zip(truth, pred):
        groups[p][t] += 1
    majority = sum(c.most_common(1)[0][1] for c in groups.values())
    return {"ari": adjusted_rand_score(truth, pred), "purity": majority / len(truth), "groups": len(groups),
            "false_merges": sum(1 for c in groups.values() if len(c) > 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pg", action="store_true", help="skip the PG15 queryid baseline")
    args = ap.parse_args()
    rows = dataset(args.variants, args.seed)
    truth = [r[0] for r in rows]
    print(f"{len(rows)} texts, {len(set(truth))} true templates", flush=True)
    t0 = time.perf_counter()
    keys = [template_key(text) for _label, text, _src in rows]
    took = time.perf_counter() - t0
    unparsed = sum(1 for k in keys if k[2] == "unparsed")
    keep = list(range(len(rows)))
    results = {}
    if not args.no_pg:
        qids = real_queryids(rows)
        keep = [i for i, q in enumerate(qids) if q is not None]
        print(f"PostgreSQL rejected {len(rows) - len(keep)} texts (dropped from both scores)")
        results["queryid (PG15)"] = scores([truth[i] for i in keep], [qids[i] for i in keep])
    results["pgadvisor templates"] = scores([truth[i] for i in keep], [keys[i][0] for i in keep])
    print(f"\n{'method':<22} {'texts':>6} {'groups':>7} {'ARI':>7} {'purity':>7} {'false merges':>13}")
    for name, s in results.items():
        print(f"{name:<22} {len(keep):>6} {s['groups']:>7} {s['ari']:>7.4f} {s['purity']:>7.4f} "
              f"{s['false_merges']:>13}")
    ours = results["pgadvisor templates"]
    print(f"\ntrue templates {len({truth[i] for i in keep})}; unparsed texts {unparsed}; "
          f"normalize: {1000 * took / len(rows):.2f} ms per text")
    print(f"goal ARI >= {GOAL_ARI}: {'met' if ours['ari'] >= GOAL_ARI else 'MISSED'}; "
          f"purity >= {GOAL_PURITY}: {'met' if ours['purity'] >= GOAL_PURITY else 'MISSED'}")


if __name__ == "__main__":
    main()
