"""The partition advisor's decision and its literal values, without a server: the thresholds of issue 14
(10% gain, the primary-key trap at ≥ 1% of the time and ≥ 3×, blockers, pages), retention deletes, and
the values drawn from column statistics."""

from __future__ import annotations

import pytest

from pgadvisor.advise.partitions import candidates as cands
from pgadvisor.advise.partitions.decide import decide
from pgadvisor.advise.partitions.literals import ColumnValues, NoValues, literal_text, retarget
from pgadvisor.advise.partitions.model import Candidate, Cost, StatementResult, Stmt
from pgadvisor.advise.rules import partition_table
from pgadvisor.pg.partition import PartitionSpec
from pgadvisor.sql.parse import parse_statement

DAY = Candidate(PartitionSpec("range", "ts", interval="day"), "test")
NONE = Candidate(None, "as it is")
COLUMNS = [{"name": "id", "type": "bigint", "generated_key": True, "histogram": ["1", "500", "1000"], "mcv": None},
           {"name": "ts", "type": "timestamp with time zone", "generated_key": False, "n_distinct": -1,
            "histogram": ["2026-01-01 00:00:00+00", "2026-01-15 00:00:00+00", "2026-01-31 00:00:00+00"], "mcv": None},
           {"name": "tenant_id", "type": "integer", "generated_key": False, "n_distinct": 12,
            "histogram": None, "mcv": ["3", "7"]}]
PROFILE = {"columns": COLUMNS, "unique": [{"name": "t_pkey", "type": "p", "columns": ["id"]}], "fk_in": [],
           "reltuples": 1e6, "relpages": 200_000, "shared_buffers_pages": 16384}


def result(qid: str, text: str, calls: float, full: float, none: float, day: float, pages=(100, 10)) -> StatementResult:
    s = Stmt(queryid=qid, text=text, calls=calls, total_ms=calls * full, parsed=parse_statement(text))
    return StatementResult(stmt=s, literal=text, full_cost=full,
                           copies={"none": Cost(none, pages[0], 0.1), DAY.label: Cost(day, pages[1], 0.3)})


WINDOW = "SELECT count(*) FROM t WHERE ts >= $1 AND ts < $2"


def test_a_clear_gain_is_recommended_and_the_pk_is_widened_with_a_note():
    advice = decide("public.t", PROFILE, [result("1", WINDOW, 100, 1000, 100, 20)], [NONE, DAY])
    assert advice.decision == "partition" and advice.chosen == DAY
    assert advice.weighted_ratio[DAY.label] == pytest.approx(0.2)
    assert any("t_pkey (id) becomes (id, ts)" in n for n in advice.notes)
    rec = partition_table.recommendation(advice)
    assert rec.rule == "partition-table" and rec.benefit["reduction_pct"] == 80.0


def test_under_ten_percent_is_not_worth_it():
    advice = decide("public.t", PROFILE, [result("1", WINDOW, 100, 1000, 100, 92)], [NONE, DAY])
    assert advice.decision == "none" and "under 10%" in advice.why


def test_the_primary_key_trap_names_the_statement():
    pk = result("2", "SELECT * FROM t WHERE id = $1", 10_000, 8, 8, 240, pages=(4, 90))
    advice = decide("public.t", PROFILE, [result("1", WINDOW, 100, 1000, 100, 20), pk], [NONE, DAY])
    assert advice.decision == "none"
    assert "statement 2" in advice.why and "primary-key trap" in advice.why
    # the same lookup at well under 1% of the time is no trap
    rare = result("2", "SELECT * FROM t WHERE id = $1", 1, 8, 8, 240, pages=(4, 90))
    assert decide("public.t", PROFILE, [result("1", WINDOW, 100, 1000, 100, 20), rare], [NONE, DAY]).decision \
        == "partition"


def test_retention_delete_becomes_a_drop():
    delete = result("3", "DELETE FROM t WHERE ts < $1", 30, 5000, 500, 500)
    advice = decide("public.t", PROFILE, [delete], [NONE, DAY])
    assert advice.decision == "partition" and advice.statements[0]["retention"] is True


def test_blockers_unique_constraint_and_incoming_foreign_key():
    unique = dict(PROFILE, unique=[{"name": "t_code_key", "type": "u", "columns": ["tenant_id"]}])
    advice = decide("public.t", unique, [result("1", WINDOW, 100, 1000, 100, 20)], [NONE, DAY])
    assert advice.decision == "none" and "t_code_key" in advice.blocker
    fk = dict(PROFILE, fk_in=[{"name": "child_t_fk", "child": "public.child", "columns": ["id"]}])
    advice = decide("public.t", fk, [result("1", WINDOW, 100, 1000, 100, 20)], [NONE, DAY])
    assert advice.decision == "none" and "child_t_fk" in advice.blocker


def test_more_pages_touched_is_refused():
    advice = decide("public.t", PROFILE, [result("1", WINDOW, 100, 1000, 100, 50, pages=(10, 30))], [NONE, DAY])
    assert advice.decision == "none" and "pages" in advice.why


def test_candidates_from_predicates_and_statistics():
    stmts = [Stmt("1", WINDOW, 10, 100.0, parse_statement(WINDOW)),
             Stmt("2", "SELECT * FROM t WHERE tenant_id = $1", 10, 300.0,
                  parse_statement("SELECT * FROM t WHERE tenant_id = $1"))]
    found, _ = cands.generate(PROFILE, stmts)
    labels = [c.label for c in found]
    assert labels[0] == "none" and "range(ts) by day" in labels and "range(ts) by week" in labels
    assert "list(tenant_id) 2+default" in labels  # 12 distinct values ≤ MAX_LIST_VALUES, the MCVs listed
    assert not any("month" in lab for lab in labels)  # 30 days: fewer than 3 monthly partitions
    assert cands.too_small(dict(PROFILE, relpages=100))


def test_literal_values_from_statistics_and_the_copy_name():
    values = ColumnValues(COLUMNS)
    text = literal_text("SELECT * FROM t WHERE tenant_id = $1 AND ts >= $2 AND ts < $3 LIMIT $4", values)
    assert "tenant_id = '3'" in text and "'2026-01-30 00:00:00+00:00'" in text and "LIMIT 10" in text
    assert "'2026-01-31" in text  # both bounds: the window ends at the column's max
    assert "ts < '2026-01-02" in literal_text("DELETE FROM t WHERE ts < $1", values)  # the oldest day
    with pytest.raises(NoValues, match="no log samples and no statistics for column 'kind'"):
        literal_text("SELECT * FROM t WHERE kind = $1", values)
    moved = retarget("SELECT t.id FROM public.t WHERE t.ts > '2026-01-01'", ("public", "t"), ("scr", "pgadv_t_c0"))
    assert moved == 'SELECT t.id FROM "scr"."pgadv_t_c0" AS t WHERE t.ts > \'2026-01-01\''
    assert retarget("SELECT * FROM t JOIN u ON u.id = t.id", ("public", "t"), ("s", "c")) is None
