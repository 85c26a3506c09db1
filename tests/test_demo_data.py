"""The e-commerce fixture: loading, the workload file and its runners, against a real PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import datetime

import psycopg
import pytest
from conftest import dsn_for, scratch_db

from pgadvisor import demo_data
from pgadvisor.errors import PgAdvisorError, UsageError
from pgadvisor.marker import is_own

SCALE = 0.02
TABLES = ("users", "products", "orders", "order_items", "cart_items")


@pytest.fixture(scope="module")
def shop(admin_dsn):
    """One database with the fixture loaded at SCALE, shared by the module: (dsn, load result)."""
    with scratch_db(admin_dsn, "t_shop", "", extensions=("pg_stat_statements",)) as dsn:
        steps: list[tuple[str, float]] = []
        result = demo_data.load_ecommerce(dsn, scale=SCALE, progress=lambda s, f: steps.append((s, f)))
        result["progress"] = steps
        yield dsn, result


def test_load_row_counts_follow_the_scale(shop):
    _, result = shop
    rows = result["rows"]
    assert rows["products"] == round(200_000 * SCALE)
    assert rows["users"] == round(100_000 * SCALE)
    assert rows["orders"] == round(500_000 * SCALE)
    assert 2.7 * rows["orders"] <= rows["order_items"] <= 3.3 * rows["orders"]
    assert 0.8 * 200_000 * SCALE <= rows["cart_items"] <= 1.2 * 200_000 * SCALE
    assert result["seconds"] > 0 and set(result["steps"]) >= {"tables", "orders", "constraints", "analyze"}
    fractions = [f for _, f in result["progress"]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_load_makes_primary_keys_only_and_realistic_skew(shop):
    dsn, _ = shop
    with psycopg.connect(dsn) as conn:
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text, indisprimary, indisunique FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[])", [list(TABLES)]).fetchall()
        status = dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall())
        top_category = conn.execute(
            "SELECT category FROM products GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        emails = conn.execute("SELECT count(DISTINCT lower(email)), count(*) FROM users").fetchone()
    assert sum(1 for _, primary, _ in indexes if primary) == len(TABLES)
    assert [name for name, primary, unique in indexes if not primary] == ["cart_items_user_id_product_id_key"]
    assert status["delivered"] > 0.8 * sum(status.values())
    assert 0 < status["pending"] < 0.02 * sum(status.values())
    assert top_category == "electronics"
    assert emails[0] == emails[1]


def test_load_is_deterministic_and_refuses_existing_tables(shop, make_db):
    dsn, _ = shop
    other = make_db(extensions=())
    demo_data.load_ecommerce(other, scale=SCALE)
    digest = ("SELECT md5(string_agg(concat_ws('|', id, user_id, total, status, created_at, shipping_address),"
              " ',' ORDER BY id)) FROM orders")
    with psycopg.connect(dsn) as a, psycopg.connect(other) as b:
        assert a.execute(digest).fetchone() == b.execute(digest).fetchone()
    with pytest.raises(PgAdvisorError, match="already exist"):
        demo_data.load_ecommerce(other, scale=SCALE)
    with pytest.raises(UsageError):
        demo_data.load_ecommerce(other, scale=0)


def test_workload_spec_is_well_formed():
    entries = demo_data.load_workload_spec()
    assert 15 <= len(entries) <= 25
    names = [e.name for e in entries]
    assert len(set(names)) == len(names)
    assert all(e.weight > 0 for e in entries)
    assert {"login", "order_history", "pending_orders", "checkout"} <= set(names)
    assert any(e.writes for e in entries) and any(not e.writes for e in entries)


@pytest.mark.parametrize("spec, message", [
    ("int:1", "takes 2 argument"),
    ("int:9:1", "low bound above high bound"),
    ("num:a:2", "not a number"),
    ("bogus:1", "unknown kind 'bogus'"),
    ("choice:", "needs at least one value"),
    ("choice:a*0", "bad choice item"),
    ("hot:users:2:0.5", "FRAC must be in"),
    ("id:Users;drop", "not a table name"),
    ("", "non-empty"),
])
def test_parser_rejects_bad_param_specs(spec, message):
    with pytest.raises(UsageError, match=message) as info:
        demo_data.parse_param_spec(spec)
    assert "bad parameter spec" in str(info.value)


def test_parser_rejects_bad_workload_files(tmp_path):
    bad_param = tmp_path / "bad_param.toml"
    bad_param.write_text('[[statement]]\nname = "q"\nsql = "SELECT $1"\nparams = ["int:1:x"]\n')
    with pytest.raises(UsageError, match=r"bad parameter spec 'int:1:x' in statement 'q' \(\$1\)"):
        demo_data.load_workload_spec(bad_param)
    mismatch = tmp_path / "mismatch.toml"
    mismatch.write_text('[[statement]]\nname = "q"\nsql = "SELECT $1, $3"\nparams = ["int:1:2", "int:1:2"]\n')
    with pytest.raises(UsageError, match="do not match 2 param spec"):
        demo_data.load_workload_spec(mismatch)
    with pytest.raises(UsageError, match="not valid TOML"):
        demo_data.parse_workload("[[statement]\n")


def test_param_generators_are_deterministic_and_in_range():
    ctx = demo_data.ParamContext(anchor=datetime(2025, 1, 1), max_ids={"users": 1000, "products": 50})
    specs = [demo_data.parse_param_spec(s) for s in
             ("int:3:5", "num:1:2", "choice:a,b*3", "const:x", "id:products", "pow:products:2",
              "hot:users:0.01:1", "email", "ts_ago_days:7:7", "address")]
    draw = [[s.generate(random.Random(1), ctx) for s in specs] for _ in range(2)]
    assert draw[0] == draw[1]
    values = [s.generate(random.Random(i), ctx) for i in range(50) for s in specs[:7]]
    assert all(v for v in values)
    rng = random.Random(5)
    assert all(1 <= int(specs[5].generate(rng, ctx)) <= 50 for _ in range(200))
    assert all(1 <= int(specs[6].generate(rng, ctx)) <= 10 for _ in range(200))
    assert specs[8].generate(rng, ctx) == "2024-12-25 00:00:00"


def test_every_entry_runs(shop):
    dsn, _ = shop
    entries = demo_data.load_workload_spec()
    timings = demo_data.measure_workload(dsn, repeats=1, calls_per_entry=2)  # raises if a statement fails
    assert set(timings) == {e.name for e in entries} | {"_total", "_total_unweighted"}
    assert all(v >= 0 for v in timings.values())
    login = next(e for e in entries if e.name == "login")
    with psycopg.connect(dsn) as conn:
        ctx = demo_data._context(conn, [login], datetime(2025, 1, 1))
        found = psycopg.RawCursor(conn).execute(login.sql, login.make_params(random.Random(3), ctx)).fetchall()
    assert len(found) == 1  # the "email" generator matches data.sql's emails


def test_run_workload_fills_pg_stat_statements(shop):
    dsn, _ = shop
    first = demo_data.run_workload(dsn, total_calls=240, clients=2, seed=7)
    assert first["total_calls"] == 240
    assert first["total_errors"] == 0, first["error_samples"]
    again = demo_data.run_workload(dsn, total_calls=240, clients=2, seed=7)
    assert again["calls"] == first["calls"]
    with psycopg.connect(dsn) as conn:
        texts = [r[0] for r in conn.execute(
            "SELECT query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query LIKE '%$1%'").fetchall()]
    entries = {e.name: e for e in demo_data.load_workload_spec()}
    assert len(texts) >= 10
    assert entries["login"].sql in texts
    assert entries["cart_view"].sql in texts  # texts without constants stay as written
    with psycopg.connect(dsn) as conn:
        loader = [r[0] for r in conn.execute(
            "SELECT query FROM pg_stat_statements WHERE query LIKE %s "
            "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            ["%generate_series%"]).fetchall()]
    assert all(is_own(t) for t in loader)  # the loader's statements are kept out of the analysis


def test_run_workload_counts_errors_instead_of_failing(shop):
    dsn, _ = shop
    good = demo_data.WorkloadEntry("good", "SELECT $1::int", 1.0, (demo_data.parse_param_spec("int:1:9"),), False)
    bad = demo_data.WorkloadEntry("bad", "SELECT 1 / ($1::int - $1::int)", 1.0,
                                  (demo_data.parse_param_spec("int:1:9"),), False)
    result = demo_data.run_workload(dsn, total_calls=40, clients=2, entries=[good, bad])
    assert result["total_calls"] == 40
    assert result["errors"]["bad"] == result["calls"]["bad"] > 0
    assert result["errors"]["good"] == 0
    assert "DivisionByZero" in result["error_samples"]["bad"]


def test_run_workload_for_a_duration_reports_progress(shop):
    dsn, _ = shop
    seen: list[float] = []
    result = demo_data.run_workload(dsn, seconds=0.7, clients=3, progress=lambda _msg, f: seen.append(f))
    assert result["total_calls"] > 0 and result["clients"] == 3
    assert seen and seen[-1] == 1.0
    assert sum(result["calls"].values()) == result["total_calls"]


def test_missing_fixtures_raise_a_clear_error(monkeypatch):
    monkeypatch.setattr(demo_data, "FIXTURE_DIR", "data/no-such-fixture")
    with pytest.raises(PgAdvisorError, match="e-commerce fixture is missing") as err:
        demo_data.fixtures_dir()
    assert "reinstall pgadvisor" in err.value.hint


def test_the_fixture_is_package_data():
    """The fixture ships inside the package (a wheel has it) and only there: one copy."""
    import importlib.resources
    from pathlib import Path

    here = importlib.resources.files("pgadvisor").joinpath("data/ecommerce")
    assert all(here.joinpath(n).is_file() for n in ("schema.sql", "data.sql", "workload.toml"))
    assert not (Path(__file__).resolve().parent.parent / "fixtures" / "ecommerce").exists()


def test_non_superuser_load_marks_its_statements(admin_dsn):
    role, name = f"r_{uuid.uuid4().hex[:8]}", f"t_own_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    try:
        with psycopg.connect(dsn_for(admin_dsn, name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        params = psycopg.conninfo.conninfo_to_dict(dsn_for(admin_dsn, name))
        params["user"] = role
        result = demo_data.load_ecommerce(psycopg.conninfo.make_conninfo(**params), scale=0.005)
        assert result["rows"]["orders"] == 2500
        with psycopg.connect(dsn_for(admin_dsn, name)) as conn:
            texts = [r[0] for r in conn.execute(
                "SELECT query FROM pg_stat_statements WHERE dbid = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()]
        loader = [t for t in texts if "generate_series" in t]
        assert loader and all(is_own(t) for t in loader)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
