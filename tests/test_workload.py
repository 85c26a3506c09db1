"""The Workload contract: what load_workload gathers from a store, server picking, and the JSON file
format the offline fixtures use. No server: synthetic snapshots in a temporary SQLite store."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synth import snapshot, statement_rows

from pgadvisor.errors import UsageError
from pgadvisor.pg.logs import Sample
from pgadvisor.store import open_store
from pgadvisor.workload import (
    NO_SNAPSHOTS,
    WORKLOAD_FORMAT,
    StatementStats,
    Workload,
    load_workload,
    pick_server,
    table_write_deltas,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "workloads"


def _relation(name: str, ins: int, upd: int, dele: int, hot: int) -> dict:
    return {"schema": "public", "name": name, "reltuples": 100.0, "relpages": 1,
            "n_tup_ins": ins, "n_tup_upd": upd, "n_tup_del": dele, "n_tup_hot_upd": hot}


def _parts(relations: list[dict]) -> dict:
    return {"relations": relations, "indexes": [], "columns": [], "foreign_keys": [],
            "settings": [{"name": "work_mem", "setting": "4096"}], "database": [{"datname": "app"}]}


@pytest.fixture
def store_path(tmp_path):
    """A store with two snapshots of server "app": three statements, writes on t0, one log sample."""
    rows = statement_rows(3)
    path = str(tmp_path / "s.sqlite")
    with open_store(path) as s:
        s.save_snapshot(snapshot("app", 100.0, rows, parts=_parts([_relation("t0", 10, 5, 0, 2)])))
        for r in rows:
            r["calls"] += 7
            r["total_exec_time"] += 3.5
        logged = Sample(rows[0]["queryid"], "app", "u", "SELECT * FROM t0 WHERE c0 = $1 AND k = 0", 1.0, ("'7'",))
        s.save_snapshot(replace(snapshot("app", 200.0, rows, parts=_parts([_relation("t0", 25, 5, 3, 2),
                                                                          _relation("t1", 4, 0, 0, 0)])),
                                samples=[logged]))
    return path


def test_load_workload_gathers_statements_samples_writes_and_schema(store_path):
    with open_store(store_path, read_only=True) as s:
        w = load_workload(s, "app", since=100.0)
    assert w.server == "app" and w.window["start"] == 100.0 and w.window["end"] == 200.0
    assert w.coverage["intervals"] == 1 and w.coverage["complete"]
    assert sorted(x.calls for x in w.statements) == [7, 7, 7]
    [sampled] = [x for x in w.statements if x.template]
    # the logged text keeps the application's constants; the literal example costs its custom plan
    assert sampled.query == "SELECT * FROM t0 WHERE c0 = $1 AND k = 0" and sampled.template.endswith("k = 0")
    assert sampled.examples == ("SELECT * FROM t0 WHERE c0 = '7' AND k = 0",)
    assert w.sampled_statements == 1
    assert w.table_writes == {
        "public.t0": {"n_tup_ins": 15.0, "n_tup_upd": 0.0, "n_tup_del": 3.0, "n_tup_hot_upd": 0.0},
        "public.t1": {"n_tup_ins": 4.0, "n_tup_upd": 0.0, "n_tup_del": 0.0, "n_tup_hot_upd": 0.0}}
    assert set(w.schema) == {"relations", "indexes", "columns", "foreign_keys"}  # not the database counters
    assert w.settings == {"work_mem": "4096"}
    assert w.days == pytest.approx(100 / 86400)
    assert list(w.summary()) == ["window", "coverage", "sampled_statements"]  # what recommend's document shows


def test_statements_only_is_what_pgadvisor_workload_lists(store_path):
    with open_store(store_path, read_only=True) as s:
        w = load_workload(s, "app", since=100.0, top=2, statements_only=True)
    assert len(w.statements) == 2 and not any(x.template for x in w.statements)
    assert w.table_writes == {} and w.schema == {} and w.settings == {}


def test_a_window_without_snapshots_is_an_empty_workload(store_path):
    with open_store(store_path, read_only=True) as s:
        w = load_workload(s, "app", since=500.0)
    assert w.statements == [] and w.window["snapshots"] == 0 and w.days is None
    assert w.coverage == {"intervals": 0, "complete": False}


def test_an_unknown_server_names_the_known_ones(store_path):
    with open_store(store_path, read_only=True) as s, pytest.raises(UsageError) as e:
        load_workload(s, "prod")
    assert str(e.value) == "no snapshots for server 'prod' in the store (servers: app)"


def test_pick_server(tmp_path, store_path):
    with open_store(str(tmp_path / "empty.sqlite")) as s:
        with pytest.raises(UsageError, match="^the store holds no snapshots yet: run `pgadvisor collect --dsn"):
            pick_server(s, None)
        with pytest.raises(UsageError, match="^or else$"):
            pick_server(s, None, none_yet="or else")
        assert pick_server(s, "named") == "named"  # load_workload says whether the store has it
    with open_store(store_path) as s:
        assert pick_server(s, None) == "app"
        s.save_snapshot(snapshot("db2", 300.0, statement_rows(1)))
        with pytest.raises(UsageError) as e:
            pick_server(s, None)
    assert str(e.value) == "the store holds several servers, choose one with --server: app, db2"
    assert NO_SNAPSHOTS.startswith("the store holds no snapshots yet")


def test_table_write_deltas_restart_from_a_counter_that_went_down():
    before = [_relation("a", 10, 10, 10, 10), _relation("b", 50, 0, 0, 0)]
    after = [_relation("a", 12, 15, 10, 11), _relation("b", 5, 0, 0, 0), _relation("c", 3, 0, 0, 0)]
    got = table_write_deltas(before, after)
    assert got["public.a"] == {"n_tup_ins": 2.0, "n_tup_upd": 5.0, "n_tup_del": 0.0, "n_tup_hot_upd": 1.0}
    assert got["public.b"]["n_tup_ins"] == 5.0  # reset in between: what was counted since
    assert got["public.c"]["n_tup_ins"] == 3.0  # a table created in the window
    assert table_write_deltas(None, after)["public.a"]["n_tup_upd"] == 15.0


# -- the file format ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ecommerce", "seeded_problems"])
def test_fixture_files_are_canonical_to_json_output(name):
    """A fixture reads back into a Workload that writes exactly the same file (no field lost or added)."""
    text = (FIXTURES / f"{name}.json").read_text()
    w = Workload.from_json(text)
    assert w.to_json(indent=1) + "\n" == text
    assert Workload.from_json(w.to_json()) == w


def test_from_json_refuses_other_documents():
    w = Workload("s", {}, {}, [])
    doc = json.loads(w.to_json())
    assert doc["format"] == WORKLOAD_FORMAT
    with pytest.raises(UsageError, match="^not a workload file: "):
        Workload.from_json("{")
    with pytest.raises(UsageError, match="^not a workload file"):
        Workload.from_json(json.dumps({"schema": 1}))
    with pytest.raises(UsageError, match=f"^workload file format 99: this pgadvisor reads format {WORKLOAD_FORMAT}$"):
        Workload.from_json(json.dumps(doc | {"format": 99}))
    with pytest.raises(UsageError, match="^workload file: a field is missing"):
        Workload.from_json(json.dumps(doc | {"statements": [{"queryid": "1"}]}))


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_statements = st.builds(
    StatementStats, queryid=st.text(max_size=12), query=st.text(max_size=40), userid=st.integers(0, 2**32),
    dbid=st.integers(0, 2**32), toplevel=st.booleans(), calls=st.integers(0, 2**62), total_exec_ms=_floats,
    rows=st.integers(0, 2**62), counters=st.dictionaries(st.text(max_size=12), _floats, max_size=4),
    datname=st.none() | st.text(max_size=8), template=st.none() | st.text(max_size=40),
    examples=st.lists(st.text(max_size=20), max_size=3).map(tuple))
_workloads = st.builds(
    Workload, server=st.text(max_size=10), window=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    coverage=st.dictionaries(st.text(max_size=6), _json, max_size=4), statements=st.lists(_statements, max_size=4),
    table_writes=st.dictionaries(st.text(max_size=8), st.dictionaries(st.text(max_size=6), _floats, max_size=4),
                                 max_size=3),
    schema=st.dictionaries(st.text(max_size=8), _json, max_size=4),
    settings=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))


@settings(max_examples=150, deadline=None)
@given(_workloads)
def test_round_trip_through_json(w):
    assert Workload.from_json(w.to_json()) == w
