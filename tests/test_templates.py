"""Templates beyond queryid (analyze.templates over sql.fingerprint): what merges, what never does."""

from __future__ import annotations

import pytest

from pgadvisor.analyze.templates import build_templates, template_key
from pgadvisor.workload import StatementStats


def _stmt(qid: str, text: str, calls: int = 1, ms: float = 1.0, dbid: int = 5) -> StatementStats:
    return StatementStats(queryid=qid, query=text, userid=10, dbid=dbid, toplevel=True, calls=calls,
                          total_exec_ms=ms, rows=calls, counters={"shared_blks_hit": 10.0 * calls})


@pytest.mark.parametrize("a,b", [
    # IN lists of other lengths (PostgreSQL 15: other queryids)
    ("SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in ($1,$2,$3,$4,$5,$6)"),
    # casts on constants, typed literals
    ("SELECT * FROM t WHERE d >= '2024-01-01'::date AND n = 5::int", "SELECT * FROM t WHERE d >= date $1 AND n = $2"),
    ("SELECT * FROM t WHERE d >= CAST('2024-01-01' AS date) - interval '1 day'",
     "SELECT * FROM t WHERE d >= $1 - $2"),
    ("SELECT * FROM t WHERE x = -5::int", "SELECT * FROM t WHERE x = $1"),
    # aliases: table, derived table, CTE and output column aliases, and their references
    ("SELECT o.id, count(*) AS n FROM orders o GROUP BY o.id ORDER BY n DESC",
     "select x.id, count(*) as cnt from orders x group by x.id order by cnt desc"),
    ("WITH r AS (SELECT a AS v FROM t) SELECT s.v FROM r s WHERE s.v > 1",
     "WITH recent AS (SELECT a AS val FROM t) SELECT q.val FROM recent q WHERE q.val > $1"),
    # comments and whitespace, keyword case; constants the parser reads as keywords or paths
    ("/* app */ SELECT  a\n FROM t -- x\n WHERE b = 'q'", "select a from t where b = $1 /* other */"),
    ("SELECT date_trunc('day', c), a ->> 'k' FROM t", "SELECT date_trunc($1, c), a ->> $2 FROM t"),
    ("SELECT extract(year FROM c) FROM t", "SELECT date_part($1, c) FROM t"),
])
def test_same_template(a, b):
    assert template_key(a)[0] == template_key(b)[0], (template_key(a)[1], template_key(b)[1])


@pytest.mark.parametrize("a,b", [
    ("SELECT * FROM t WHERE id = $1", "SELECT * FROM t WHERE id < $1"),
    ("SELECT * FROM t WHERE id = $1", "SELECT * FROM t WHERE other = $1"),
    ("SELECT * FROM t ORDER BY a DESC", "SELECT * FROM t ORDER BY a"),
    ("SELECT * FROM t ORDER BY 1", "SELECT * FROM t ORDER BY 2"),
    ("SELECT a FROM t", "SELECT a FROM t LIMIT 5"),
    # ORDER BY an alias: which output column it names matters
    ("SELECT a AS x, b AS y FROM t ORDER BY x", "SELECT a AS y, b AS x FROM t ORDER BY x"),
    # a name read in its own SELECT's WHERE is a real column there: not renamed, not merged
    ("SELECT a AS n FROM t WHERE n > 1", "SELECT a AS m FROM t WHERE m > 1"),
    ("SELECT * FROM t1 a JOIN t2 b ON a.id = b.id", "SELECT * FROM t1 a JOIN t2 b ON a.id = b.ref"),
])
def test_different_statements_stay_apart(a, b):
    assert template_key(a)[0] != template_key(b)[0]


def test_build_templates_sums_and_lists_queryids():
    ts = build_templates([
        _stmt("1", "SELECT * FROM t WHERE id IN ($1, $2)", calls=3, ms=6.0),
        _stmt("2", "SELECT * FROM t WHERE id IN ($1, $2, $3)", calls=5, ms=4.0),
        _stmt("3", "SELECT * FROM u WHERE id = $1", calls=1, ms=1.0),
        _stmt("4", "SELECT * FROM t WHERE id IN ($1, $2)", calls=1, ms=1.0, dbid=6),  # another database
    ])
    assert ts.summary() == {"statements": 4, "templates": 3, "unparsed": 0, "merged_statements": 1}
    first = ts.templates[0]
    assert first.queryids == ["1", "2"] and first.calls == 8 and first.total_exec_ms == 10.0
    assert first.counter("shared_blks_hit") == 80.0 and first.example == "SELECT * FROM t WHERE id IN ($1, $2, $3)"
    assert ts.by_queryid()["4"].dbid == 6 and ts.by_queryid()["4"] is not first


def test_unparsable_text_is_its_own_counted_template():
    broken = "SELECT * FROM t WHERE x = (("
    ts = build_templates([_stmt("1", broken), _stmt("2", "SELECT * FROM t WHERE x = $1"), _stmt("3", "VACUUM t")])
    statuses = sorted(t.status for t in ts.templates)
    assert statuses == ["parsed", "unparsed", "utility"] and ts.unparsed == 1
    assert build_templates([]).summary()["templates"] == 0
