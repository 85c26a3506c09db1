"""TPC-H / TPC-DS workloads for the index advisor benchmark, generated offline and run so that
pg_stat_statements records them.

Data: DuckDB's `tpch` / `tpcds` extensions from the PyPI packages `duckdb-extension-tpch` and
`duckdb-extension-tpcds`, loaded from the wheel's file (`LOAD '/path/x.duckdb_extension'`) with
extension auto-install and auto-load switched off, so nothing is downloaded at run time. The tables
are exported to CSV once (cached in the data directory) and COPYed into PostgreSQL, primary keys
only, then VACUUM ANALYZE.

Queries:
- TPC-H: the 19 templates (2, 17 and 20 left out) written here with the substitution parameters of
  the TPC-H specification (§2.4) drawn at random (seeded); every parameter is bound (psycopg sends
  `$n`), and the constant parts are written so that pg_stat_statements' normalized text (constants
  replaced by `$n`) stays preparable: no `date '…'` / `interval '…' day` literals.
- TPC-DS: the 99 queries of DuckDB's `tpcds_queries()`, transpiled to PostgreSQL with sqlglot
  (interval literals rewritten as `'n day'::interval` for the same reason); the queries PostgreSQL
  runs within the time limit are kept.

Each query instance runs through psycopg with `statement_timeout`; pg_stat_statements only records
statements that finish, so an instance that times out is reported and missing from the workload.

    python tests/bench/tpc.py tpch --data-dir /tmp/pgadvisor-bench   # generate + load + run, print pgss
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import glob
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pgadvisor.workload import COUNTERS, StatementStats  # noqa: E402

HARNESS = "/* bench harness */"  # marks the harness' own statements in pg_stat_statements
DEFAULT_DATA_DIR = Path(os.environ.get("PGADVISOR_BENCH_DIR", "/tmp/pgadvisor-bench"))

# server settings of the benchmark cluster (reported with the results)
PG_SETTINGS = {
    "shared_buffers": "'1GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'1GB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "jit": "off",
    "max_parallel_workers_per_gather": "2",
    "max_connections": "20",
    "pg_stat_statements.max": "10000",
    "pg_stat_statements.track": "top",
}


# ---------------------------------------------------------------------------------------------------
# DuckDB: data generation, offline
# ---------------------------------------------------------------------------------------------------


def extension_path(name: str) -> str:
    """Path of the `.duckdb_extension` file shipped by the PyPI package `duckdb-extension-<name>`."""
    import importlib

    try:
        mod = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError as exc:
        raise SystemExit(f"pip install duckdb-extension-{name} (the DuckDB {name} extension as a wheel)") from exc
    files = glob.glob(os.path.join(os.path.dirname(mod.__file__), "extensions", "*", f"{name}.duckdb_extension"))
    if not files:
        raise SystemExit(f"duckdb_extension_{name} ships no {name}.duckdb_extension file")
    return sorted(files)[-1]


def duckdb_connect(*extensions: str):
    """A DuckDB connection with the given extensions loaded from local files; never downloads."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET enable_progress_bar = false")  # DuckDB 1.2+ refuses it as a global option at connect
    for ext in extensions:
        con.execute(f"LOAD '{extension_path(ext)}'")
    return con


def dataset_dir(data_dir: Path, bench: str, sf: float) -> Path:
    return Path(data_dir) / f"{bench}-sf{sf:g}"


def generate(bench: str, sf: float, data_dir: Path, log=print) -> Path:
    """Generate the data with DuckDB (cached): `<data_dir>/<bench>-sf<sf>/<table>.csv` + `schema.json`."""
    out = dataset_dir(data_dir, bench, sf)
    if (out / "schema.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    con = duckdb_connect(bench)
    con.execute(f"CALL {'dbgen' if bench == 'tpch' else 'dsdgen'}(sf={sf})")
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'main' ORDER BY table_name").fetchall()]
    schema = []
    for t in tables:
        cols = con.execute("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                           "WHERE table_name = ? ORDER BY ordinal_position", [t]).fetchall()
        rows = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        schema.append({"table": t, "rows": rows,
                       "columns": [{"name": c, "type": ty, "nullable": n == "YES"} for c, ty, n in cols]})
        con.execute(f"COPY {t} TO '{out / (t + '.csv')}' (FORMAT csv, DELIMITER '|', HEADER false)")
    queries = _duckdb_queries(con, bench)
    (out / "duckdb_queries.json").write_text(json.dumps(queries, indent=1))
    (out / "schema.json").write_text(json.dumps(schema, indent=1))
    con.close()
    # the server (running as the postgres OS user) reads the files with COPY FROM
    os.chmod(out, 0o755)
    for f in out.iterdir():
        os.chmod(f, 0o644)
    log(f"generated {bench} sf={sf:g} with DuckDB in {time.monotonic() - t0:.0f} s → {out}")
    return out


def _duckdb_queries(con, bench: str) -> dict[str, str]:
    fn = "tpch_queries" if bench == "tpch" else "tpcds_queries"
    return {str(n): q for n, q in con.execute(f"SELECT query_nr, query FROM {fn}() ORDER BY 1").fetchall()}


# ---------------------------------------------------------------------------------------------------
# PostgreSQL: schema and load
# ---------------------------------------------------------------------------------------------------

TPCH_PK = {
    "region": ["r_regionkey"], "nation": ["n_nationkey"], "part": ["p_partkey"], "supplier": ["s_suppkey"],
    "partsupp": ["ps_partkey", "ps_suppkey"], "customer": ["c_custkey"], "orders": ["o_orderkey"],
    "lineitem": ["l_orderkey", "l_linenumber"],
}
TPCDS_FACT_PK = {
    "store_sales": ["ss_item_sk", "ss_ticket_number"], "store_returns": ["sr_item_sk", "sr_ticket_number"],
    "catalog_sales": ["cs_item_sk", "cs_order_number"], "catalog_returns": ["cr_item_sk", "cr_order_number"],
    "web_sales": ["ws_item_sk", "ws_order_number"], "web_returns": ["wr_item_sk", "wr_order_number"],
    "inventory": ["inv_date_sk", "inv_item_sk", "inv_warehouse_sk"],
}


def _pg_type(duck: str) -> str:
    t = duck.upper()
    if t.startswith("DECIMAL"):
        return t.replace("DECIMAL", "numeric")
    return {"BIGINT": "bigint", "INTEGER": "integer", "DATE": "date", "VARCHAR": "text", "DOUBLE": "double precision",
            "SMALLINT": "smallint", "TIME": "time", "TIMESTAMP": "timestamp"}.get(t, "text")


def primary_key(bench: str, table: dict) -> list[str]:
    if bench == "tpch":
        return TPCH_PK.get(table["table"], [])
    if table["table"] in TPCDS_FACT_PK:
        return TPCDS_FACT_PK[table["table"]]
    first = table["columns"][0]["name"]
    return [first] if first.endswith("_sk") else []


def load_postgres(dsn: str, bench: str, ddir: Path, log=print) -> dict[str, Any]:
    """Create the tables, COPY the CSV files (server side), primary keys, VACUUM ANALYZE."""
    schema = json.loads((ddir / "schema.json").read_text())
    t0 = time.monotonic()
    report: dict[str, Any] = {"pk_failed": []}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in schema:
            cols = ", ".join(f"{c['name']} {_pg_type(c['type'])}" for c in t["columns"])
            conn.execute(f"DROP TABLE IF EXISTS {t['table']} CASCADE")
            conn.execute(f"CREATE TABLE {t['table']} ({cols})")
        for t in sorted(schema, key=lambda t: -t["rows"]):
            t1 = time.monotonic()
            conn.execute(f"COPY {t['table']} FROM '{ddir / (t['table'] + '.csv')}' "
                         "WITH (FORMAT csv, DELIMITER '|', NULL '')")
            log(f"  COPY {t['table']}: {t['rows']} rows in {time.monotonic() - t1:.0f} s")
        for t in schema:
            pk = primary_key(bench, t)
            if not pk:
                continue
            try:
                conn.execute(f"ALTER TABLE {t['table']} ADD PRIMARY KEY ({', '.join(pk)})")
            except psycopg.Error as exc:  # dsdgen data is not always unique on the textbook keys
                report["pk_failed"].append({"table": t["table"], "key": pk, "error": str(exc).splitlines()[0]})
        conn.execute("VACUUM ANALYZE")
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    report["seconds"] = round(time.monotonic() - t0, 1)
    log(f"loaded {bench} into PostgreSQL in {report['seconds']} s"
        + (f"; primary keys that failed: {report['pk_failed']}" if report["pk_failed"] else ""))
    return report


def open_cluster(pg_dir: Path | None, settings: dict[str, str] | None = None, log=print):
    """A benchmark cluster; reused when `pg_dir` already holds one (the loaded data survives re-runs)."""
    from pgadvisor.pg.local import LocalCluster, find_bindir, free_port, start_cluster

    conf = dict(PG_SETTINGS, **(settings or {}))
    if pg_dir is not None and (Path(pg_dir) / "data" / "PG_VERSION").exists():
        root = Path(pg_dir)
        run_as = "postgres" if os.geteuid() == 0 else None
        port = free_port()
        with open(root / "data" / "postgresql.conf", "a") as fh:
            fh.write(f"\nport = {port}\n")
        cluster = LocalCluster(bindir=find_bindir(), root=root, port=port, run_as=run_as)
        cluster.start()
        for _ in range(50):
            if (cluster.sockdir / f".s.PGSQL.{port}").exists():
                break
            time.sleep(0.1)
        log(f"re-using the cluster in {root}")
        return cluster
    if pg_dir is not None:
        Path(pg_dir).parent.mkdir(parents=True, exist_ok=True)
    cluster = start_cluster(root=pg_dir, settings=conf)
    log(f"started a cluster in {cluster.root}")
    return cluster


def ensure_database(cluster, dbname: str, bench: str, sf: float, data_dir: Path, log=print) -> tuple[str, dict]:
    """The DSN of a database holding the benchmark's data (generated and loaded when missing)."""
    admin = cluster.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        loaded = False
        if exists:
            with psycopg.connect(cluster.dsn(dbname)) as c2:
                loaded = bool(c2.execute("SELECT 1 FROM pg_class WHERE relname = 'bench_loaded'").fetchone())
            if not loaded:
                conn.execute(f"DROP DATABASE {dbname}")
        if not loaded:
            conn.execute(f"CREATE DATABASE {dbname}")
    info: dict[str, Any] = {"reused": loaded}
    if not loaded:
        ddir = generate(bench, sf, data_dir, log)
        info["load"] = load_postgres(cluster.dsn(dbname), bench, ddir, log)
        with psycopg.connect(cluster.dsn(dbname), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_loaded (at timestamptz DEFAULT now(), info jsonb)")
            conn.execute("INSERT INTO bench_loaded (info) VALUES (%s)", (json.dumps(info["load"]),))
    return cluster.dsn(dbname), info


# ---------------------------------------------------------------------------------------------------
# TPC-H query templates with the specification's substitution parameters
# ---------------------------------------------------------------------------------------------------

NATIONS = [("ALGERIA", "AFRICA"), ("ARGENTINA", "AMERICA"), ("BRAZIL", "AMERICA"), ("CANADA", "AMERICA"),
           ("EGYPT", "MIDDLE EAST"), ("ETHIOPIA", "AFRICA"), ("FRANCE", "EUROPE"), ("GERMANY", "EUROPE"),
           ("INDIA", "ASIA"), ("INDONESIA", "ASIA"), ("IRAN", "MIDDLE EAST"), ("IRAQ", "MIDDLE EAST"),
           ("JAPAN", "ASIA"), ("JORDAN", "MIDDLE EAST"), ("KENYA", "AFRICA"), ("MOROCCO", "AFRICA"),
           ("MOZAMBIQUE", "AFRICA"), ("PERU", "AMERICA"), ("CHINA", "ASIA"), ("ROMANIA", "EUROPE"),
           ("SAUDI ARABIA", "MIDDLE EAST"), ("VIETNAM", "ASIA"), ("RUSSIA", "EUROPE"), ("UNITED KINGDOM", "EUROPE"),
           ("UNITED STATES", "AMERICA")]
REGIONS = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY", "HOUSEHOLD"]
TYPE_S1 = ["STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO"]
TYPE_S2 = ["ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED"]
TYPE_S3 = ["TIN", "NICKEL", "BRASS", "STEEL", "COPPER"]
SHIPMODES = ["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"]
COLORS = ("almond antique aquamarine azure beige bisque black blanched blue blush brown burlywood burnished "
          "chartreuse chiffon chocolate coral cornflower cornsilk cream cyan dark deep dim dodger drab firebrick "
          "floral forest frosted gainsboro ghost goldenrod green grey honeydew hot indian ivory khaki lace lavender "
          "lawn lemon light lime linen magenta maroon medium metallic midnight mint misty moccasin navajo navy olive "
          "orange orchid pale papaya peach peru pink plum powder puff purple red rose rosy royal saddle salmon sandy "
          "seashell sienna sky slate smoke snow spring steel tan thistle tomato turquoise violet wheat white "
          "yellow").split()


def _month(rng: random.Random, first: tuple[int, int], last: tuple[int, int]) -> dt.date:
    months = (last[0] - first[0]) * 12 + last[1] - first[1]
    k = rng.randint(0, months)
    y, m = first[0] + (first[1] - 1 + k) // 12, (first[1] - 1 + k) % 12 + 1
    return dt.date(y, m, 1)


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = d.year + (d.month - 1 + n) // 12, (d.month - 1 + n) % 12 + 1
    return dt.date(y, m, d.day)


def _year(rng: random.Random) -> dt.date:
    return dt.date(rng.randint(1993, 1997), 1, 1)


def _q1(r):
    return [dt.date(1998, 12, 1) - dt.timedelta(days=r.randint(60, 120))]


def _q3(r):
    d = dt.date(1995, 3, r.randint(1, 31))
    return [r.choice(SEGMENTS), d, d]


def _q4(r):
    d = _month(r, (1993, 1), (1997, 10))
    return [d, _add_months(d, 3)]


def _q5(r):
    d = _year(r)
    return [r.choice(REGIONS), d, _add_months(d, 12)]


def _q6(r):
    d = _year(r)
    disc = Decimal(r.randint(2, 9)) / 100
    return [d, _add_months(d, 12), disc - Decimal("0.01"), disc + Decimal("0.01"), r.randint(24, 25)]


def _q7(r):
    n1, n2 = r.sample([n for n, _ in NATIONS], 2)
    return [n1, n2, n2, n1, dt.date(1995, 1, 1), dt.date(1996, 12, 31)]


def _q8(r):
    n, reg = r.choice(NATIONS)
    return [n, reg, dt.date(1995, 1, 1), dt.date(1996, 12, 31),
            f"{r.choice(TYPE_S1)} {r.choice(TYPE_S2)} {r.choice(TYPE_S3)}"]


def _q9(r):
    return [f"%{r.choice(COLORS)}%"]


def _q10(r):
    d = _month(r, (1993, 2), (1995, 1))
    return [d, _add_months(d, 3)]


def _q11(r, sf: float = 1.0):
    n = r.choice(NATIONS)[0]
    return [n, Decimal("0.0001") / Decimal(str(sf)), n]


def _q12(r):
    m1, m2 = r.sample(SHIPMODES, 2)
    d = _year(r)
    return [m1, m2, d, _add_months(d, 12)]


def _q13(r):
    return [f"%{r.choice(['special', 'pending', 'unusual', 'express'])}%"
            f"{r.choice(['packages', 'requests', 'accounts', 'deposits'])}%"]


def _q14(r):
    d = _month(r, (1993, 1), (1997, 12))
    return [d, _add_months(d, 1)]


def _q15(r):
    d = _month(r, (1993, 1), (1997, 10))
    return [d, _add_months(d, 3)]


def _q16(r):
    m = r.randint(1, 5)
    return [f"Brand#{m}{r.randint(1, 5)}", f"{r.choice(TYPE_S1)} {r.choice(TYPE_S2)}%", *r.sample(range(1, 51), 8)]


def _q18(r):
    return [r.randint(312, 315)]


def _q19(r):
    q1, q2, q3 = r.randint(1, 10), r.randint(10, 20), r.randint(20, 30)
    brands = [f"Brand#{r.randint(1, 5)}{r.randint(1, 5)}" for _ in range(3)]
    return [brands[0], q1, q1 + 10, brands[1], q2, q2 + 10, brands[2], q3, q3 + 10]


def _q21(r):
    return [r.choice(NATIONS)[0]]


def _q22(r):
    codes = [str(c) for c in r.sample(range(10, 35), 7)]
    return codes + codes


_REV = "l_extendedprice * (1 - l_discount)"
TPCH_TEMPLATES: dict[int, tuple[str, Any]] = {
    1: (f"""select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty, sum(l_extendedprice) as sum_base_price,
  sum({_REV}) as sum_disc_price, sum({_REV} * (1 + l_tax)) as sum_charge, avg(l_quantity) as avg_qty,
  avg(l_extendedprice) as avg_price, avg(l_discount) as avg_disc, count(*) as count_order
from lineitem where l_shipdate <= %s
group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus""", _q1),
    3: (f"""select l_orderkey, sum({_REV}) as revenue, o_orderdate, o_shippriority
from customer, orders, lineitem
where c_mktsegment = %s and c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate < %s and l_shipdate > %s
group by l_orderkey, o_orderdate, o_shippriority order by revenue desc, o_orderdate limit 10""", _q3),
    4: ("""select o_orderpriority, count(*) as order_count from orders
where o_orderdate >= %s and o_orderdate < %s
  and exists (select * from lineitem where l_orderkey = o_orderkey and l_commitdate < l_receiptdate)
group by o_orderpriority order by o_orderpriority""", _q4),
    5: (f"""select n_name, sum({_REV}) as revenue
from customer, orders, lineitem, supplier, nation, region
where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey and c_nationkey = s_nationkey
  and s_nationkey = n_nationkey and n_regionkey = r_regionkey and r_name = %s
  and o_orderdate >= %s and o_orderdate < %s
group by n_name order by revenue desc""", _q5),
    6: ("""select sum(l_extendedprice * l_discount) as revenue from lineitem
where l_shipdate >= %s and l_shipdate < %s and l_discount between %s and %s and l_quantity < %s""", _q6),
    7: (f"""select supp_nation, cust_nation, l_year, sum(volume) as revenue from (
  select n1.n_name as supp_nation, n2.n_name as cust_nation, date_part('year', l_shipdate) as l_year,
    {_REV} as volume
  from supplier, lineitem, orders, customer, nation n1, nation n2
  where s_suppkey = l_suppkey and o_orderkey = l_orderkey and c_custkey = o_custkey
    and s_nationkey = n1.n_nationkey and c_nationkey = n2.n_nationkey
    and ((n1.n_name = %s and n2.n_name = %s) or (n1.n_name = %s and n2.n_name = %s))
    and l_shipdate between %s and %s) as shipping
group by supp_nation, cust_nation, l_year order by supp_nation, cust_nation, l_year""", _q7),
    8: (f"""select o_year, sum(case when nation = %s then volume else 0.0 end) / sum(volume) as mkt_share from (
  select date_part('year', o_orderdate) as o_year, {_REV} as volume, n2.n_name as nation
  from part, supplier, lineitem, orders, customer, nation n1, nation n2, region
  where p_partkey = l_partkey and s_suppkey = l_suppkey and l_orderkey = o_orderkey and o_custkey = c_custkey
    and c_nationkey = n1.n_nationkey and n1.n_regionkey = r_regionkey and r_name = %s
    and s_nationkey = n2.n_nationkey and o_orderdate between %s and %s and p_type = %s) as all_nations
group by o_year order by o_year""", _q8),
    9: (f"""select nation, o_year, sum(amount) as sum_profit from (
  select n_name as nation, date_part('year', o_orderdate) as o_year,
    {_REV} - ps_supplycost * l_quantity as amount
  from part, supplier, lineitem, partsupp, orders, nation
  where s_suppkey = l_suppkey and ps_suppkey = l_suppkey and ps_partkey = l_partkey and p_partkey = l_partkey
    and o_orderkey = l_orderkey and s_nationkey = n_nationkey and p_name like %s) as profit
group by nation, o_year order by nation, o_year desc""", _q9),
    10: (f"""select c_custkey, c_name, sum({_REV}) as revenue, c_acctbal, n_name, c_address, c_phone, c_comment
from customer, orders, lineitem, nation
where c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate >= %s and o_orderdate < %s
  and l_returnflag = 'R' and c_nationkey = n_nationkey
group by c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
order by revenue desc limit 20""", _q10),
    11: ("""select ps_partkey, sum(ps_supplycost * ps_availqty) as value
from partsupp, supplier, nation
where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = %s
group by ps_partkey having sum(ps_supplycost * ps_availqty) > (
  select sum(ps_supplycost * ps_availqty) * %s from partsupp, supplier, nation
  where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = %s)
order by value desc""", _q11),
    12: ("""select l_shipmode,
  sum(case when o_orderpriority = '1-URGENT' or o_orderpriority = '2-HIGH' then 1::int else 0::int end)
    as high_line_count,
  sum(case when o_orderpriority <> '1-URGENT' and o_orderpriority <> '2-HIGH' then 1::int else 0::int end)
    as low_line_count
from orders, lineitem
where o_orderkey = l_orderkey and l_shipmode in (%s, %s) and l_commitdate < l_receiptdate
  and l_shipdate < l_commitdate and l_receiptdate >= %s and l_receiptdate < %s
group by l_shipmode order by l_shipmode""", _q12),
    13: ("""select c_count, count(*) as custdist from (
  select c_custkey, count(o_orderkey) as c_count
  from customer left outer join orders on c_custkey = o_custkey and o_comment not like %s
  group by c_custkey) as c_orders
group by c_count order by custdist desc, c_count desc""", _q13),
    14: (f"""select 100.00 * sum(case when p_type like 'PROMO%%' then {_REV} else 0.0 end) / sum({_REV})
  as promo_revenue from lineitem, part where l_partkey = p_partkey and l_shipdate >= %s and l_shipdate < %s""", _q14),
    15: (f"""with revenue0 as (
  select l_suppkey as supplier_no, sum({_REV}) as total_revenue from lineitem
  where l_shipdate >= %s and l_shipdate < %s group by l_suppkey)
select s_suppkey, s_name, s_address, s_phone, total_revenue from supplier, revenue0
where s_suppkey = supplier_no and total_revenue = (select max(total_revenue) from revenue0)
order by s_suppkey""", _q15),
    16: ("""select p_brand, p_type, p_size, count(distinct ps_suppkey) as supplier_cnt
from partsupp, part
where p_partkey = ps_partkey and p_brand <> %s and p_type not like %s
  and p_size in (%s, %s, %s, %s, %s, %s, %s, %s)
  and ps_suppkey not in (select s_suppkey from supplier where s_comment like '%%Customer%%Complaints%%')
group by p_brand, p_type, p_size order by supplier_cnt desc, p_brand, p_type, p_size""", _q16),
    18: ("""select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity)
from customer, orders, lineitem
where o_orderkey in (select l_orderkey from lineitem group by l_orderkey having sum(l_quantity) > %s)
  and c_custkey = o_custkey and o_orderkey = l_orderkey
group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
order by o_totalprice desc, o_orderdate limit 100""", _q18),
    19: (f"""select sum({_REV}) as revenue from lineitem, part
where (p_partkey = l_partkey and p_brand = %s and p_container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
    and l_quantity >= %s and l_quantity <= %s and p_size between 1 and 5
    and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')
  or (p_partkey = l_partkey and p_brand = %s and p_container in ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
    and l_quantity >= %s and l_quantity <= %s and p_size between 1 and 10
    and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')
  or (p_partkey = l_partkey and p_brand = %s and p_container in ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
    and l_quantity >= %s and l_quantity <= %s and p_size between 1 and 15
    and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')""", _q19),
    21: ("""select s_name, count(*) as numwait
from supplier, lineitem l1, orders, nation
where s_suppkey = l1.l_suppkey and o_orderkey = l1.l_orderkey and o_orderstatus = 'F'
  and l1.l_receiptdate > l1.l_commitdate
  and exists (select * from lineitem l2 where l2.l_orderkey = l1.l_orderkey and l2.l_suppkey <> l1.l_suppkey)
  and not exists (select * from lineitem l3 where l3.l_orderkey = l1.l_orderkey and l3.l_suppkey <> l1.l_suppkey
                  and l3.l_receiptdate > l3.l_commitdate)
  and s_nationkey = n_nationkey and n_name = %s
group by s_name order by numwait desc, s_name limit 100""", _q21),
    22: ("""select cntrycode, count(*) as numcust, sum(c_acctbal) as totacctbal from (
  select substring(c_phone from 1 for 2) as cntrycode, c_acctbal from customer
  where substring(c_phone from 1 for 2) in (%s, %s, %s, %s, %s, %s, %s)
    and c_acctbal > (select avg(c_acctbal) from customer where c_acctbal > 0.00
                     and substring(c_phone from 1 for 2) in (%s, %s, %s, %s, %s, %s, %s))
    and not exists (select * from orders where o_custkey = c_custkey)) as custsale
group by cntrycode order by cntrycode""", _q22),
}
TPCH_LEFT_OUT = (2, 17, 20)


@dataclass
class QueryInstance:
    name: str  # "q3" / "ds14"
    sql: str
    params: list[Any] = field(default_factory=list)


def tpch_instances(seed: int = 1, instances: str = "1-3", sf: float = 1.0) -> list[QueryInstance]:
    """The 19 templates with random parameters; each template runs k times, k from `instances` ("2" or "1-3")."""
    rng = random.Random(seed)
    lo, _, hi = instances.partition("-")
    out = []
    for n, (sql, gen) in sorted(TPCH_TEMPLATES.items()):
        k = rng.randint(int(lo), int(hi or lo))
        for _ in range(k):
            params = gen(rng, sf) if gen is _q11 else gen(rng)
            out.append(QueryInstance(f"q{n}", sql, params))
    return out


# ---------------------------------------------------------------------------------------------------
# TPC-DS: DuckDB's queries transpiled with sqlglot
# ---------------------------------------------------------------------------------------------------


TPCDS_TEXT_VERSION = 2  # bump when transpile_tpcds changes: the recorded workload is cached by it


def _typed_literal(lit):
    from sqlglot import exp

    if lit.is_string:
        return exp.Cast(this=lit, to=exp.DataType.build("text"))
    return exp.Cast(this=lit, to=exp.DataType.build("numeric" if "." in lit.name else "int"))


def transpile_tpcds(text: str) -> str:
    """DuckDB → PostgreSQL, written so that pg_stat_statements' normalized text (every constant → `$n`)
    can still be PREPAREd for a generic plan:

    - interval literals become `'n day'::interval` (`interval $1 day` is a syntax error);
    - arithmetic on two number literals is folded (`1200 + 11`: `$1 + $2` is "operator is not unique");
    - number and string literals that are CASE results or bare select-list items get a cast
      (`sum(case … then $1 else $2 end)` is `sum(text)`; `$1 AS channel` has no type);
    - `round(x, n)` rounds `x::numeric` (DuckDB's x may be a double; PostgreSQL has no round(double, int)).
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(text, read="duckdb")

    def fix(node):
        if isinstance(node, exp.Interval):
            value = node.this.name if isinstance(node.this, exp.Literal) else node.this.sql()
            unit = node.unit.name if node.unit is not None else ""
            return exp.Cast(this=exp.Literal.string(f"{value} {unit}".strip()),
                            to=exp.DataType.build("interval"))
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul)) and all(
                isinstance(x, exp.Literal) and x.is_number for x in (node.left, node.right)):
            a, b = (float(x.name) if "." in x.name else int(x.name) for x in (node.left, node.right))
            v = a + b if isinstance(node, exp.Add) else a - b if isinstance(node, exp.Sub) else a * b
            return exp.Literal.number(v)
        if isinstance(node, exp.Round) and node.args.get("decimals") is not None and not (
                isinstance(node.this, exp.Cast) and node.this.to.is_type("decimal")):
            node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("numeric")))
            return node
        return node

    tree = tree.transform(fix)
    tree = tree.transform(fix)  # nested sums: 1200 + 11 + 1
    for case in list(tree.find_all(exp.Case)):
        for branch in case.args.get("ifs") or []:
            if isinstance(branch.args.get("true"), exp.Literal):
                branch.set("true", _typed_literal(branch.args["true"]))
        if isinstance(case.args.get("default"), exp.Literal):
            case.set("default", _typed_literal(case.args["default"]))
    for select in list(tree.find_all(exp.Select)):
        items = []
        for e in select.expressions:
            if isinstance(e, exp.Alias) and isinstance(e.this, exp.Literal):
                e.set("this", _typed_literal(e.this))
            elif isinstance(e, exp.Literal):
                e = _typed_literal(e)
            items.append(e)
        select.set("expressions", items)
    return tree.sql(dialect="postgres")


def tpcds_instances(ddir: Path) -> list[QueryInstance]:
    queries = json.loads((ddir / "duckdb_queries.json").read_text())
    out = []
    for n, text in sorted(queries.items(), key=lambda kv: int(kv[0])):
        try:
            sql = transpile_tpcds(text)
        except Exception as exc:  # noqa: BLE001 - reported as not runnable
            out.append(QueryInstance(f"ds{n}", f"-- transpile failed: {exc}"))
            continue
        out.append(QueryInstance(f"ds{n}", sql.replace("%", "%%")))
    return out


# ---------------------------------------------------------------------------------------------------
# running the workload and reading pg_stat_statements
# ---------------------------------------------------------------------------------------------------


def run_instances(dsn: str, instances: list[QueryInstance], timeout_s: float, log=print,
                  skip: set[str] | None = None) -> dict[str, dict]:
    """Run every instance (psycopg, bound parameters); per template: runs, ok, timeouts, errors, seconds."""
    status: dict[str, dict] = {}
    opts = f"-c statement_timeout={int(timeout_s * 1000)}"
    conn = psycopg.connect(dsn, autocommit=True, options=opts)
    t_all = time.monotonic()
    try:
        for i, qi in enumerate(instances):
            st = status.setdefault(qi.name, {"runs": 0, "ok": 0, "timeout": 0, "error": None, "seconds": 0.0})
            if skip and qi.name in skip:
                continue
            if qi.sql.startswith("-- transpile failed") or (st["timeout"] or st["error"]):
                st["error"] = st["error"] or (qi.sql[3:] if qi.sql.startswith("--") else None)
                continue  # a template that timed out or failed once is not run again
            st["runs"] += 1
            t0 = time.monotonic()
            try:
                with conn.cursor() as cur:
                    cur.execute(qi.sql, qi.params or None)
                    if cur.description:
                        cur.fetchall()
                st["ok"] += 1
            except psycopg.errors.QueryCanceled:
                st["timeout"] += 1
            except psycopg.Error as exc:
                st["error"] = " ".join(str(exc).split())[:200]
                if conn.closed or conn.broken:
                    conn = psycopg.connect(dsn, autocommit=True, options=opts)
            st["seconds"] += time.monotonic() - t0
            if (i + 1) % 10 == 0 or i + 1 == len(instances):
                log(f"  {i + 1}/{len(instances)} query instances, {time.monotonic() - t_all:.0f} s")
    finally:
        conn.close()
    return status


def reset_pgss(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"{HARNESS} SELECT pg_stat_statements_reset()")


def read_pgss(dsn: str) -> list[StatementStats]:
    """This database's pg_stat_statements rows as StatementStats (cumulative since the reset = the window)."""
    cols = ", ".join(f"s.{c}" for c in COUNTERS)
    with psycopg.connect(dsn) as conn:
        dbid, datname = conn.execute(f"{HARNESS} SELECT oid, datname FROM pg_database "
                                     "WHERE datname = current_database()").fetchone()
        rows = conn.execute(f"{HARNESS} SELECT s.queryid, s.query, s.userid, s.dbid, s.toplevel, {cols} "
                            "FROM pg_stat_statements s WHERE s.dbid = %s", (dbid,)).fetchall()
    out = []
    for r in rows:
        counters = {c: float(r[5 + i] or 0) for i, c in enumerate(COUNTERS)}
        out.append(StatementStats(queryid=str(r[0]), query=r[1], userid=int(r[2]), dbid=int(r[3]),
                                  toplevel=bool(r[4]), calls=int(counters["calls"]),
                                  total_exec_ms=counters["total_exec_time"], rows=int(counters["rows"]),
                                  counters=counters, datname=datname))
    return out


def stats_to_json(stmts: list[StatementStats]) -> list[dict]:
    return [{"queryid": s.queryid, "query": s.query, "userid": s.userid, "dbid": s.dbid, "toplevel": s.toplevel,
             "calls": s.calls, "total_exec_ms": s.total_exec_ms, "rows": s.rows, "counters": s.counters,
             "datname": s.datname} for s in stmts]


def stats_from_json(rows: list[dict]) -> list[StatementStats]:
    return [StatementStats(**r) for r in rows]


def is_workload_query(text: str) -> bool:
    t = text.lstrip().lower()
    return t.startswith(("select", "with")) and HARNESS not in text


def without_primary_keys(cluster, dbname: str, log=print) -> str:
    """A copy of `dbname` (CREATE DATABASE … TEMPLATE, made once) with every primary key dropped and the
    statistics gathered again; returns its DSN (`--no-pk`: issue 10's TPC-H without primary keys)."""
    copy = f"{dbname}_nopk"
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (copy,)).fetchone():
            return cluster.dsn(copy)
        t0 = time.monotonic()
        conn.execute(f"CREATE DATABASE {copy}_tmp TEMPLATE {dbname}")
    with psycopg.connect(cluster.dsn(f"{copy}_tmp"), autocommit=True) as conn:
        pks = conn.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'p' "
                           "AND connamespace = 'public'::regnamespace").fetchall()
        for rel, con in pks:
            conn.execute(f'ALTER TABLE {rel} DROP CONSTRAINT "{con}"')
        conn.execute("VACUUM ANALYZE")
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {copy}_tmp RENAME TO {copy}")
    log(f"made {copy}: {dbname} without its {len(pks)} primary keys, in {time.monotonic() - t0:.0f} s")
    return cluster.dsn(copy)


def prepare_workload(cluster, bench: str, sf: float, data_dir: Path, *, seed: int = 1, instances: str = "1-3",
                     timeout_s: float = 300.0, rerun: bool = False, no_pk: bool = False, log=print) -> dict[str, Any]:
    """Data loaded, workload run, pg_stat_statements read. Cached in the database: a re-run re-uses the
    pg_stat_statements rows recorded by the first run unless `rerun`. `no_pk`: the DSN is that of a copy
    without primary keys (the workload is recorded on the original, with them)."""
    dbname = f"{bench}_sf{str(sf).replace('.', '_')}"
    dsn, info = ensure_database(cluster, dbname, bench, sf, data_dir, log)
    if no_pk:
        w = prepare_workload(cluster, bench, sf, data_dir, seed=seed, instances=instances, timeout_s=timeout_s,
                             rerun=rerun, log=log)
        nopk = without_primary_keys(cluster, dbname, log)
        with psycopg.connect(nopk) as conn:  # the advisor keeps the statements of the database it runs on
            dbid = conn.execute("SELECT oid::bigint FROM pg_database WHERE datname = current_database()").fetchone()[0]
        stmts = [dataclasses.replace(s, dbid=dbid) for s in w["statements"]]
        return dict(w, dsn=nopk, dbname=f"{dbname}_nopk", statements=stmts)
    tag = f"seed{seed}-{instances}" if bench == "tpch" else f"text{TPCDS_TEXT_VERSION}"
    cache = dataset_dir(data_dir, bench, sf) / f"pgss-{tag}-{int(timeout_s)}s.json"
    if cache.exists() and info["reused"] and not rerun:
        saved = json.loads(cache.read_text())
        log(f"re-using the pg_stat_statements rows recorded on {saved['recorded_at']} ({cache})")
        return {"dsn": dsn, "dbname": dbname, "statements": stats_from_json(saved["statements"]),
                "status": saved["status"], "recorded_at": saved["recorded_at"], "from_cache": True,
                "run_seconds": saved.get("run_seconds")}
    if bench == "tpch":
        todo = tpch_instances(seed, instances, sf)
    else:
        todo = tpcds_instances(dataset_dir(data_dir, bench, sf))
    log(f"running {len(todo)} {bench} query instances (statement_timeout {timeout_s:g} s)")
    reset_pgss(dsn)
    t0 = time.monotonic()
    status = run_instances(dsn, todo, timeout_s, log)
    run_seconds = round(time.monotonic() - t0, 1)
    stmts = read_pgss(dsn)
    recorded = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    data_dir_ok = dataset_dir(data_dir, bench, sf)
    data_dir_ok.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"recorded_at": recorded, "status": status, "run_seconds": run_seconds,
                                 "statements": stats_to_json(stmts)}))
    return {"dsn": dsn, "dbname": dbname, "statements": stmts, "status": status, "recorded_at": recorded,
            "from_cache": False, "run_seconds": run_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", choices=["tpch", "tpcds"])
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--pg-dir", type=Path, default=None, help="cluster directory (default <data-dir>/pg)")
    ap.add_argument("--instances", default="1-3")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--rerun", action="store_true")
    ap.add_argument("--keep-running", action="store_true")
    args = ap.parse_args()
    cluster = open_cluster(args.pg_dir or args.data_dir / "pg")
    try:
        w = prepare_workload(cluster, args.bench, args.sf, args.data_dir, instances=args.instances,
                             timeout_s=args.timeout, rerun=args.rerun)
        for name, st in w["status"].items():
            print(f"{name:6} {st}")
        for s in sorted(w["statements"], key=lambda s: -s.total_exec_ms):
            print(f"{s.calls:4d} {s.total_exec_ms / 1000:8.1f} s  {' '.join(s.query.split())[:110]}")
    finally:
        if not args.keep_running:
            cluster.stop(remove=False)


if __name__ == "__main__":
    main()
