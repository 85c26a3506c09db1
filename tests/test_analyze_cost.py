"""Issue 12b: the cheaper paths of `workload` and `anomalies` give the same results as the plain ones.

- anomalies read calls and time for every statement and the cause counters later for the flagged ones only
  (`load_series(detail_counters=...)`, `Series.detail`): the same anomalies, causes and evidence as a series
  read with every counter up front, by statement and by template;
- the statement texts are parsed in worker processes (`templates.prefetch`, `parallel_map`): the same keys as
  one `template_key` call per statement, and nothing is left running;
- the running totals are sorted by one int64 key: the deltas do not depend on the order the rows come in;
- `interval_series(statement_ids=...)` equals the full read restricted to those statements.
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from pgadvisor.analyze import templates as tm
from pgadvisor.analyze.anomalies import CAUSE_COUNTERS, SERIES_COUNTERS, detect, find
from pgadvisor.analyze.series import frames, load_series
from pgadvisor.store import open_store
from tests.bench import synth_store

END = 1_796_000_400.0  # a fixed end (a multiple of the 600 s step): the store is the same on every run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cost") / "s.sqlite"
    truth = synth_store.generate(path, days=10, templates=80, seed=5, end=END)
    return str(path), truth


def _full(st, truth):
    return load_series(st, truth["server"], END - 10 * 86400, counters=SERIES_COUNTERS + CAUSE_COUNTERS[1:])


def test_lazy_cause_counters_give_the_same_anomalies(store):
    path, truth = store
    since = truth["start"] + synth_store.WARMUP_DAYS * 86400
    with open_store(path, read_only=True) as st:
        full = _full(st, truth)
        lazy = load_series(st, truth["server"], END - 10 * 86400, counters=SERIES_COUNTERS,
                           detail_counters=CAUSE_COUNTERS)
        assert "rows" not in lazy.deltas and "rows" in full.deltas
        a = [x.to_dict() for x in detect(full, since=since)]
        b = [x.to_dict() for x in detect(lazy, since=since)]
        ids = sorted(full.statements.index[:7])
        got = lazy.detail(ids, CAUSE_COUNTERS)
    assert a == b
    assert any(x["likely_cause"] and "unexplained" not in x["likely_cause"] for x in a if x["metric"] == "mean_time")
    want = full.detail(ids, CAUSE_COUNTERS)
    pd.testing.assert_frame_equal(got[["statement_id", "seq", "gap", *CAUSE_COUNTERS]].reset_index(drop=True),
                                  want[["statement_id", "seq", "gap", *CAUSE_COUNTERS]].reset_index(drop=True))


def test_find_by_template_equals_one_key_per_statement(store):
    path, truth = store
    since = END - 3 * 86400
    with open_store(path, read_only=True) as st:
        found, meta = find(st, truth["server"], since=since, history_s=7 * 86400, by="template")
        full = load_series(st, truth["server"], since - 7 * 86400, counters=SERIES_COUNTERS + CAUSE_COUNTERS[1:])
    groups, texts = {}, {}
    for i, q, db in zip(full.statements.index, full.statements["query"], full.statements["dbid"]):
        key, norm, _ = tm.template_key(q, int(db))
        groups[int(i)] = key
        texts.setdefault(key, norm)
    plain = detect(full, since=since, groups=groups, texts=texts)
    assert [a.to_dict() for a in found] == [a.to_dict() for a in plain]
    assert found and meta["series"] == len(set(groups.values())) < len(groups)


def test_parallel_keys_equal_sequential_and_leave_nothing_running(store):
    path, truth = store
    with open_store(path, read_only=True) as st:
        rows = st.series_statements(st.server_id(truth["server"]))
    items = [(r["query"], int(r["dbid"])) for r in rows]
    items = (items * (tm.PARALLEL_MIN // len(items) + 2))[: tm.PARALLEL_MIN + 50]
    items = [(f"{q} /* {k} */", db) for k, (q, db) in enumerate(items)]  # distinct texts, same templates
    tm.prefetch_keys(items)
    if tm._workers() >= 2:
        assert tm._pool is not None and tm._pending
    keys = tm.template_keys(items)
    assert keys == [tm.template_key(q, db) for q, db in items]
    assert tm._pool is None and not tm._pending
    tm.prefetch_keys(items)
    tm.release()  # results nobody took
    assert tm._pool is None and not tm._pending


def test_deltas_do_not_depend_on_row_order_and_statement_subset_reads_match(store):
    path, truth = store
    with open_store(path, read_only=True) as st:
        sid = st.server_id(truth["server"])
        lo, hi = st.window_seqs(sid, END - 5 * 86400, None)
        raw = st.interval_series(sid, lo, hi, counters=("calls", "rows"), with_server=False)
        some = sorted(s["statement_id"] for s in raw["statements"])[3:9]
        part = st.interval_series(sid, lo, hi, counters=("calls", "rows"), with_server=False, statement_ids=some)
    base = frames("x", raw, lo=lo)
    shuffled = dict(raw, totals=random.Random(1).sample(raw["totals"], len(raw["totals"])))
    pd.testing.assert_frame_equal(frames("x", shuffled, lo=lo).deltas, base.deltas)
    # each delta is the difference of the statement's consecutive running totals (first: since its entry)
    t = pd.DataFrame(raw["totals"], columns=list(raw["columns"])).sort_values(["statement_id", "seq"])
    t["d"] = t.groupby("statement_id")["calls"].diff().fillna(t["calls"])
    m = base.deltas.merge(t, on=["statement_id", "seq"], suffixes=("", "_total"))
    assert len(m) == len(base.deltas) > 1000
    assert m["calls"].tolist() == m["d"].tolist()
    sub = frames("x", part, lo=lo).deltas
    want = base.deltas[base.deltas["statement_id"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub, want)
    assert set(sub["statement_id"]) == set(some)
    assert {p[0] for p in part["plans"]} <= set(some) and {s["statement_id"] for s in part["statements"]} == set(some)
