"""Statement understanding (pgadvisor.sql): pure logic, no database."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from pgadvisor.sql.fingerprint import fingerprint, normalize
from pgadvisor.sql.model import ColumnRef, JoinPair, ParsedStatement, SortKey
from pgadvisor.sql.parse import MAX_TEXT_CHARS, parse_many, parse_statement, prepare_sql

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "sql" / "pgss_texts.sql"

ECOMMERCE = {
    "public.users": ["id", "email", "name", "country", "created_at"],
    "public.products": ["id", "name", "description", "price", "category", "active", "popularity",
                        "created_at"],
    "public.cart_items": ["id", "user_id", "product_id", "quantity", "price", "created_at"],
    "public.orders": ["id", "user_id", "total", "payment_method", "shipping_address", "status",
                      "created_at"],
    "public.order_items": ["id", "order_id", "product_id", "quantity", "price"],
}
TPCH = {
    "public.region": ["r_regionkey", "r_name", "r_comment"],
    "public.nation": ["n_nationkey", "n_name", "n_regionkey", "n_comment"],
    "public.part": ["p_partkey", "p_name", "p_mfgr", "p_brand", "p_type", "p_size", "p_container",
                    "p_retailprice", "p_comment"],
    "public.supplier": ["s_suppkey", "s_name", "s_address", "s_nationkey", "s_phone", "s_acctbal",
                        "s_comment"],
    "public.partsupp": ["ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost", "ps_comment"],
    "public.customer": ["c_custkey", "c_name", "c_address", "c_nationkey", "c_phone", "c_acctbal",
                        "c_mktsegment", "c_comment"],
    "public.orders": ["o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice", "o_orderdate",
                      "o_orderpriority", "o_clerk", "o_shippriority", "o_comment"],
    "public.lineitem": ["l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity",
                        "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus",
                        "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct", "l_shipmode",
                        "l_comment"],
}


def col(table: str, column: str, schema: str | None = None) -> ColumnRef:
    return ColumnRef(schema, table, column)


def preds(parsed: ParsedStatement) -> set[tuple]:
    """(table, column, kind, expression, constant, bound) of every predicate."""
    return {(p.column.table, p.column.column, p.kind, p.expression, p.constant, p.bound)
            for p in parsed.predicates}


def kinds(parsed: ParsedStatement) -> dict[str, str]:
    """column -> kind (for statements with one predicate per column)."""
    return {p.column.column: p.kind for p in parsed.predicates}


def joins(parsed: ParsedStatement) -> set[frozenset]:
    return {frozenset([(j.left.table, j.left.column), (j.right.table, j.right.column)])
            for j in parsed.joins}


def used(parsed: ParsedStatement) -> dict[str, set[str]]:
    return {table: columns for (_, table), columns in parsed.columns_used.items()}


def ok(text: str, schema: dict | None = None) -> ParsedStatement:
    parsed = parse_statement(text, schema)
    assert parsed.error is None, parsed.error
    return parsed


def load_corpus() -> list[str]:
    entries = re.split(r"^-- next$", CORPUS.read_text(encoding="utf-8"), flags=re.M)[1:]
    return [entry.strip() for entry in entries if entry.strip()]


# --------------------------------------------------------------------------------------- placeholders


@pytest.mark.parametrize("text", [
    "SELECT * FROM t WHERE a = $1 AND b IN ($2,$3,$4)",
    "SELECT * FROM t WHERE a = $ 1 AND b IN ($  2, $3 ,$4)",
    "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3, $4)",
])
def test_placeholders_however_spaced(text):
    parsed = ok(text)
    assert preds(parsed) == {("t", "a", "eq", None, None, None), ("t", "b", "in", None, None, None)}


def test_adjacent_placeholders_in_expressions_and_values():
    parsed = ok("INSERT INTO t (a, b, c) VALUES ($1,$2,$3||$4) RETURNING id")
    assert parsed.kind == "insert" and parsed.tables == [(None, "t")]


def test_prepare_sql_leaves_strings_comments_and_dollar_quotes_alone():
    text = "select $1,$2 /* $3,$4 */ from t where a = '$5,$6' and b = $$ $7,$8 $$ and d = date $9"
    assert prepare_sql(text) == (
        "select $1 ,$2  /* $3,$4 */ from t where a = '$5,$6' and b = $$ $7,$8 $$ and d = $9::date ")


def test_casts_and_typed_literal_placeholders():
    parsed = ok("SELECT * FROM lineitem WHERE l_shipdate <= date $1 - interval $2 day "
                "AND l_receiptdate > $3::timestamptz AND l_linenumber = CAST($4 AS int)")
    assert preds(parsed) == {
        ("lineitem", "l_shipdate", "range", None, None, "upper"),
        ("lineitem", "l_receiptdate", "range", None, None, "lower"),
        ("lineitem", "l_linenumber", "eq", None, None, None),
    }


# ---------------------------------------------------------------------------------------------- kinds


@pytest.mark.parametrize("text,kind", [
    ("SELECT 1", "select"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
    ("(SELECT a FROM t) UNION (SELECT a FROM u)", "select"),
    ("VALUES ($1, $2)", "select"),
    ("TABLE t", "select"),
    ("INSERT INTO t VALUES ($1)", "insert"),
    ("UPDATE t SET a = $1 WHERE id = $2", "update"),
    ("DELETE FROM t WHERE id = $1", "delete"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = s.x", "merge"),
])
def test_statement_kind(text, kind):
    assert ok(text).kind == kind


@pytest.mark.parametrize("text", [
    "BEGIN", "begin isolation level repeatable read", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "COMMIT", "ROLLBACK", "SAVEPOINT sp1", "RELEASE SAVEPOINT sp1", "SET search_path = public",
    "SET LOCAL statement_timeout = $1", "RESET ALL", "SHOW work_mem", "VACUUM ANALYZE orders",
    "VACUUM (VERBOSE, ANALYZE) public.orders", "ANALYZE orders", "COPY orders FROM STDIN",
    "COPY (SELECT * FROM orders) TO STDOUT", "CREATE INDEX CONCURRENTLY i ON t (x)",
    "CREATE TABLE t (id int)", "DROP TABLE t", "ALTER TABLE t ADD COLUMN x int", "TRUNCATE t",
    "DEALLOCATE ALL", "DISCARD ALL", "LISTEN ch", "NOTIFY ch", "CHECKPOINT", "EXPLAIN SELECT 1",
    "LOCK TABLE t IN SHARE MODE", "DO $$BEGIN PERFORM 1; END$$", "CALL p($1)", "GRANT SELECT ON t TO u",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "/* marker */ SET application_name = 'x'",
])
def test_utility_statements_are_not_errors(text):
    parsed = parse_statement(text)
    assert parsed.error is None and parsed.kind == "utility"
    assert parsed.tables == [] and parsed.predicates == []


def test_leading_comment():
    parsed = ok("/* app:shop,route:/cart */ SELECT * FROM cart_items WHERE user_id = $1")
    assert parsed.tables == [(None, "cart_items")]
    assert preds(parsed) == {("cart_items", "user_id", "eq", None, None, None)}
    assert ok("-- line comment\n/* and a block */ SELECT 1").kind == "select"


# ------------------------------------------------------------------------------------------ predicates


def test_eq_with_constant_for_partial_indexes():
    parsed = ok("SELECT * FROM orders WHERE status = 'pending' AND id = $1 AND total = 10 AND n = -1 "
                "AND kind = 'a'::text")
    assert preds(parsed) == {
        ("orders", "status", "eq", None, "'pending'", None),
        ("orders", "id", "eq", None, None, None),
        ("orders", "total", "eq", None, "10", None),
        ("orders", "n", "eq", None, "-1", None),
        ("orders", "kind", "eq", None, "'a'", None),
    }


def test_neq():
    parsed = ok("SELECT * FROM orders WHERE status <> 'cancelled' AND a != $1 AND b IS DISTINCT FROM $2")
    assert preds(parsed) == {
        ("orders", "status", "neq", None, "'cancelled'", None),
        ("orders", "a", "neq", None, None, None),
        ("orders", "b", "neq", None, None, None),
    }


def test_range_bounds():
    parsed = ok("SELECT * FROM t WHERE a > $1 AND b <= $2 AND $3 < c AND d BETWEEN $4 AND $5 "
                "AND e >= $6 AND e < $7")
    assert preds(parsed) == {
        ("t", "a", "range", None, None, "lower"),
        ("t", "b", "range", None, None, "upper"),
        ("t", "c", "range", None, None, "lower"),  # $3 < c is c > $3
        ("t", "d", "range", None, None, "both"),
        ("t", "e", "range", None, None, "both"),  # two bounds ANDed merge into one range
    }


def test_range_bounds_under_or_stay_apart():
    parsed = ok("SELECT * FROM t WHERE created_at < $1 OR created_at > $2")
    assert preds(parsed) == {("t", "created_at", "range", None, None, "upper"),
                             ("t", "created_at", "range", None, None, "lower")}
    both = ok("SELECT * FROM t WHERE (a >= $1 AND a < $2) OR b = $3")
    assert preds(both) == {("t", "a", "range", None, None, "both"), ("t", "b", "eq", None, None, None)}


def test_range_constant_and_now():
    parsed = ok("SELECT id FROM orders WHERE total > 100 AND created_at > now() - interval '7 days'")
    assert preds(parsed) == {("orders", "total", "range", None, "100", "lower"),
                             ("orders", "created_at", "range", None, None, "lower")}


def test_in_list_any_and_not_in():
    parsed = ok("SELECT * FROM t WHERE a IN ($1, $2) AND b = ANY($3) AND c = ANY(ARRAY[$4,$5]) "
                "AND d IN ('x', 'y') AND e NOT IN ($6) AND f = ANY($7::int[]) AND g <> ALL($8)")
    assert preds(parsed) == {
        ("t", "a", "in", None, None, None),
        ("t", "b", "in", None, None, None),
        ("t", "c", "in", None, None, None),
        ("t", "d", "in", None, "('x', 'y')", None),
        ("t", "e", "other", None, None, None),
        ("t", "f", "in", None, None, None),
        ("t", "g", "neq", None, None, None),
    }


def test_in_subquery_and_join_on_unnest():
    parsed = ok("SELECT * FROM orders WHERE user_id IN (SELECT id FROM users WHERE email = $1)")
    assert preds(parsed) == {("orders", "user_id", "in", None, None, None),
                             ("users", "email", "eq", None, None, None)}
    unnest = ok("SELECT p.* FROM unnest($1::int[]) AS u(id) JOIN products p ON p.id = u.id")
    assert unnest.tables == [(None, "products")]
    assert preds(unnest) == {("products", "id", "in", None, None, None)}


def test_like_kinds():
    parsed = ok("SELECT * FROM t WHERE a LIKE 'abc%' AND b LIKE $1 AND c LIKE '%x%' AND d ILIKE '%x%' "
                "AND e ILIKE $2 AND f NOT LIKE 'a%' AND g LIKE $3 || '%'")
    assert preds(parsed) == {
        ("t", "a", "prefix_like", None, "'abc%'", None),
        ("t", "b", "like", None, None, None),
        ("t", "c", "like", None, "'%x%'", None),
        ("t", "d", "ilike", None, "'%x%'", None),
        ("t", "e", "ilike", None, None, None),
        ("t", "f", "other", None, None, None),
        ("t", "g", "like", None, None, None),
    }


def test_null_tests():
    parsed = ok("SELECT * FROM t WHERE deleted_at IS NULL AND shipped_at IS NOT NULL AND NOT (x IS NULL)")
    assert kinds(parsed) == {"deleted_at": "is_null", "shipped_at": "is_not_null", "x": "is_not_null"}


def test_bool_predicates():
    parsed = ok("SELECT * FROM t WHERE active AND NOT archived AND flag = true AND hidden = false "
                "AND checked IS TRUE")
    assert preds(parsed) == {
        ("t", "active", "bool", None, "true", None),
        ("t", "archived", "bool", None, "false", None),
        ("t", "flag", "bool", None, "true", None),
        ("t", "hidden", "bool", None, "false", None),
        ("t", "checked", "bool", None, "true", None),
    }


def test_fulltext_jsonb_and_other_operators():
    parsed = ok("SELECT * FROM docs WHERE to_tsvector('english', body) @@ plainto_tsquery($1) "
                "AND tsv @@ to_tsquery($2) AND data @> $3::jsonb AND tags @> ARRAY[$4] AND data ? 'k' "
                "AND name ~* $5 AND tags && $6")
    assert preds(parsed) == {
        ("docs", "body", "fulltext", "to_tsvector('english', body)", None, None),
        ("docs", "tsv", "fulltext", None, None, None),
        ("docs", "data", "jsonb_contains", None, None, None),
        ("docs", "tags", "jsonb_contains", None, None, None),
        ("docs", "data", "other", None, None, None),
        ("docs", "name", "other", None, None, None),
        ("docs", "tags", "other", None, None, None),
    }


def test_expression_predicates_name_the_column_and_the_expression():
    parsed = ok("SELECT * FROM users u WHERE lower(u.email) = $1 AND u.data->>'k' = $2 "
                "AND date_trunc('day', u.created_at) = $3 AND (u.data->'a'->>'b')::int > $4")
    assert preds(parsed) == {
        ("users", "email", "eq", "lower(email)", None, None),
        ("users", "data", "eq", "data ->> 'k'", None, None),
        ("users", "created_at", "eq", "date_trunc('day', created_at)", None, None),
        ("users", "data", "range", "CAST((data -> 'a' ->> 'b') AS INT)", None, "lower"),
    }


def test_expression_quotes_identifiers_for_ddl():
    parsed = ok('SELECT * FROM t WHERE lower("Email") = $1 AND upper("order") = $2')
    assert {p.expression for p in parsed.predicates} == {'lower("Email")', 'upper("order")'}


def test_expression_over_two_columns_of_one_table():
    parsed = ok("SELECT id FROM products WHERE to_tsvector('english', name || ' ' || description) "
                "@@ plainto_tsquery('english', $1)")
    (predicate,) = parsed.predicates
    assert predicate.kind == "fulltext"
    assert predicate.column == col("products", "name")
    assert predicate.extra_columns == (col("products", "description"),)
    assert predicate.expression == "to_tsvector('english', name || ' ' || description)"


def test_expression_with_placeholders_is_not_indexable():
    # pg_stat_statements replaced the constants inside the expression: keep the column, kind other
    parsed = ok("SELECT * FROM orders WHERE shipping_address ->> $2 = $1 AND coalesce(x, $3) = $4")
    assert preds(parsed) == {("orders", "shipping_address", "other", None, None, None),
                             ("orders", "x", "other", None, None, None)}


def test_row_comparison_keyset_pagination():
    parsed = ok("SELECT * FROM orders WHERE user_id = $1 AND (created_at, id) < ($2, $3) "
                "ORDER BY created_at DESC, id DESC LIMIT $4")
    assert preds(parsed) == {("orders", "user_id", "eq", None, None, None),
                             ("orders", "created_at", "range", None, None, "upper"),
                             ("orders", "id", "range", None, None, "upper")}


def test_column_compared_to_column_of_same_table_is_no_predicate():
    parsed = ok("SELECT * FROM lineitem WHERE l_commitdate < l_receiptdate AND l_orderkey = $1")
    assert preds(parsed) == {("lineitem", "l_orderkey", "eq", None, None, None)}
    assert parsed.joins == []


# ------------------------------------------------------------------- aliases, CTEs, subqueries, schema


def test_aliases_resolve_to_base_tables():
    parsed = ok("SELECT o.id, oi.quantity FROM public.orders AS o JOIN order_items oi "
                "ON oi.order_id = o.id WHERE o.status = $1 AND oi.product_id = $2")
    assert parsed.tables == [("public", "orders"), (None, "order_items")]
    assert preds(parsed) == {("orders", "status", "eq", None, None, None),
                             ("order_items", "product_id", "eq", None, None, None)}
    assert parsed.predicates[0].column == col("orders", "status", "public")
    assert parsed.joins == [JoinPair(col("order_items", "order_id"), col("orders", "id", "public"))]


def test_cte_names_are_not_tables_and_columns_resolve_through_them():
    parsed = ok("WITH recent AS (SELECT id, user_id AS uid, lower(email) AS e FROM users "
                "WHERE created_at >= $1) SELECT r.uid FROM recent r WHERE r.e = $2 AND r.id > $3")
    assert parsed.tables == [(None, "users")]
    assert preds(parsed) == {
        ("users", "created_at", "range", None, None, "lower"),
        ("users", "email", "eq", "lower(email)", None, None),
        ("users", "id", "range", None, None, "lower"),
    }
    assert used(parsed) == {"users": {"id", "user_id", "email", "created_at"}}


def test_cte_column_list_and_cte_shadowing_a_table():
    parsed = ok("WITH orders (oid, uid) AS (SELECT id, user_id FROM purchases) "
                "SELECT * FROM orders WHERE uid = $1")
    assert parsed.tables == [(None, "purchases")]
    assert preds(parsed) == {("purchases", "user_id", "eq", None, None, None)}


def test_derived_table_with_column_aliases():
    parsed = ok("SELECT c_count, count(*) FROM (SELECT c_custkey, count(o_orderkey) FROM customer "
                "LEFT JOIN orders ON c_custkey = o_custkey GROUP BY c_custkey) AS c_orders (c_key, c_count) "
                "WHERE c_key > $1 GROUP BY c_count", TPCH)
    assert parsed.tables == [(None, "customer"), (None, "orders")]
    assert preds(parsed) == {("customer", "c_custkey", "range", None, None, "lower")}
    assert joins(parsed) == {frozenset([("customer", "c_custkey"), ("orders", "o_custkey")])}
    assert parsed.group_by == [col("customer", "c_custkey")]  # c_count is count(...): no column


def test_recursive_cte():
    parsed = ok("WITH RECURSIVE tree AS (SELECT id, parent_id FROM categories WHERE id = $1 UNION ALL "
                "SELECT c.id, c.parent_id FROM categories c JOIN tree t ON c.parent_id = t.id) "
                "SELECT * FROM tree")
    assert parsed.tables == [(None, "categories")]
    assert preds(parsed) == {("categories", "id", "eq", None, None, None)}
    assert parsed.joins == [JoinPair(col("categories", "parent_id"), col("categories", "id"))]


def test_correlated_subquery_gives_a_join():
    parsed = ok("SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM order_items oi "
                "WHERE oi.order_id = o.id AND oi.product_id = $1)")
    assert parsed.tables == [(None, "orders"), (None, "order_items")]
    assert parsed.joins == [JoinPair(col("order_items", "order_id"), col("orders", "id"))]
    assert preds(parsed) == {("order_items", "product_id", "eq", None, None, None)}


def test_lateral_subquery():
    parsed = ok("SELECT p.* FROM products p LEFT JOIN LATERAL (SELECT * FROM reviews r "
                "WHERE r.product_id = p.id ORDER BY r.created_at DESC LIMIT $1) r ON true "
                "WHERE p.category = $2")
    assert parsed.tables == [(None, "products"), (None, "reviews")]
    assert joins(parsed) == {frozenset([("reviews", "product_id"), ("products", "id")])}
    assert preds(parsed) == {("products", "category", "eq", None, None, None)}


def test_unqualified_columns_need_the_schema_when_several_tables_are_in_scope():
    text = "SELECT count(*) FROM orders, users WHERE orders.user_id = users.id AND status = $1"
    without = ok(text)
    assert preds(without) == set()  # status could be either table's
    assert without.joins == [JoinPair(col("orders", "user_id"), col("users", "id"))]
    with_schema = ok(text, ECOMMERCE)
    assert preds(with_schema) == {("orders", "status", "eq", None, None, None)}


def test_unqualified_column_best_effort_via_aliases():
    parsed = ok("SELECT o.status, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE status = $1")
    assert preds(parsed) == {("orders", "status", "eq", None, None, None)}


def test_single_table_resolves_without_schema_and_despite_a_stale_schema():
    assert preds(ok("SELECT * FROM t WHERE x = $1")) == {("t", "x", "eq", None, None, None)}
    stale = ok("SELECT * FROM orders WHERE brand_new_column = $1", ECOMMERCE)
    assert preds(stale) == {("orders", "brand_new_column", "eq", None, None, None)}


def test_correlated_unqualified_column_uses_the_schema():
    text = ("select sum(l_extendedprice) from lineitem, part where p_partkey = l_partkey and p_brand = $1 "
            "and l_quantity < (select $2 * avg(l_quantity) from lineitem where l_partkey = p_partkey)")
    parsed = ok(text, TPCH)
    assert joins(parsed) == {frozenset([("lineitem", "l_partkey"), ("part", "p_partkey")])}
    assert preds(parsed) == {("part", "p_brand", "eq", None, None, None),
                             ("lineitem", "l_quantity", "range", None, None, "upper")}


def test_quoted_mixed_case_non_ascii_and_schema_qualified_names():
    parsed = ok('SELECT oi."Qty", "Créé" FROM "Shop"."Order Items" oi WHERE oi."Qty" > $1 '
                'AND "Créé" IS NOT NULL AND Lower(NAME) = $2 AND 名前 = $3')
    assert parsed.tables == [("Shop", "Order Items")]
    assert preds(parsed) == {
        ("Order Items", "Qty", "range", None, None, "lower"),
        ("Order Items", "Créé", "is_not_null", None, None, None),
        ("Order Items", "name", "eq", "lower(name)", None, None),  # unquoted names fold to lower case
        ("Order Items", "名前", "eq", None, None, None),
    }
    assert parsed.predicates[0].column == col("Order Items", "Qty", "Shop")


# ------------------------------------------------------------------------------- joins, order, group


def test_join_forms():
    parsed = ok("SELECT * FROM a JOIN b USING (id) JOIN c ON c.b_id = b.id, d WHERE d.a_id = a.id "
                "AND d.x = $1")
    assert joins(parsed) == {
        frozenset([("a", "id"), ("b", "id")]),
        frozenset([("c", "b_id"), ("b", "id")]),
        frozenset([("d", "a_id"), ("a", "id")]),
    }


def test_self_join():
    parsed = ok("SELECT a.id FROM orders a, orders b WHERE a.parent_id = b.id AND b.status = $1")
    assert parsed.tables == [(None, "orders")]
    assert parsed.joins == [JoinPair(col("orders", "parent_id"), col("orders", "id"))]


def test_join_condition_with_a_filter_in_on():
    parsed = ok("SELECT * FROM t1 JOIN t2 ON t1.a = t2.a AND t2.b > $1 WHERE t1.c = t2.c + 1")
    assert joins(parsed) == {frozenset([("t1", "a"), ("t2", "a")])}
    assert preds(parsed) == {("t2", "b", "range", None, None, "lower")}


def test_order_by_keys():
    parsed = ok("SELECT name, lower(email) AS le, count FROM t ORDER BY 1, created_at DESC NULLS LAST, "
                "le NULLS FIRST, updated_at DESC NULLS FIRST, count DESC")
    assert parsed.order_by == [
        SortKey(col("t", "name")),
        SortKey(col("t", "created_at"), descending=True, nulls_first=False),
        SortKey(col("t", "email"), nulls_first=True, expression="lower(email)"),
        SortKey(col("t", "updated_at"), descending=True),  # NULLS FIRST is the DESC default
        SortKey(col("t", "count"), descending=True),
    ]


def test_order_by_aggregate_is_skipped_and_alias_resolves():
    parsed = ok("SELECT oi.product_id, max(o.created_at) AS last_ordered FROM orders o "
                "JOIN order_items oi ON oi.order_id = o.id WHERE o.user_id = $1 "
                "GROUP BY oi.product_id ORDER BY last_ordered DESC, oi.product_id LIMIT 20")
    assert parsed.order_by == [SortKey(col("order_items", "product_id"))]
    assert parsed.group_by == [col("order_items", "product_id")]
    assert parsed.limit == 20 and parsed.has_limit_param is False


def test_order_by_of_a_union_and_of_a_parenthesized_query():
    union = ok("SELECT id FROM t WHERE x = $1 UNION ALL SELECT id FROM u WHERE y = $2 ORDER BY id LIMIT 10")
    assert union.order_by == [SortKey(col("t", "id"))] and union.limit == 10
    paren = ok("(SELECT id FROM t WHERE x = $1 ORDER BY created_at DESC) LIMIT $2")
    assert paren.order_by == [SortKey(col("t", "created_at"), descending=True)]
    assert paren.has_limit_param is True


def test_group_by_ordinal_alias_and_expression():
    parsed = ok("SELECT date_trunc('day', created_at) AS day, status, count(*) FROM orders "
                "GROUP BY 1, status ORDER BY day")
    assert parsed.group_by == [col("orders", "created_at"), col("orders", "status")]
    assert parsed.order_by == [SortKey(col("orders", "created_at"),
                                       expression="date_trunc('day', created_at)")]


@pytest.mark.parametrize("text,limit,param", [
    ("SELECT * FROM t LIMIT 10", 10, False),
    ("SELECT * FROM t LIMIT $1", None, True),
    ("SELECT * FROM t LIMIT $1 OFFSET $2", None, True),
    ("SELECT * FROM t OFFSET 5 ROWS FETCH FIRST 3 ROWS ONLY", 3, False),
    ("SELECT * FROM t FETCH FIRST $1 ROWS ONLY", None, True),
    ("SELECT * FROM t LIMIT ALL", None, False),
    ("SELECT * FROM t", None, False),
])
def test_limit(text, limit, param):
    parsed = ok(text)
    assert (parsed.limit, parsed.has_limit_param) == (limit, param)


def test_columns_used_and_stars():
    parsed = ok("SELECT o.*, u.email FROM orders o JOIN users u ON u.id = o.user_id "
                "WHERE u.country = $1 ORDER BY o.created_at")
    assert used(parsed) == {"orders": {"*", "user_id", "created_at"}, "users": {"email", "id", "country"}}
    star = ok("SELECT * FROM a JOIN b ON a.id = b.a_id")
    assert used(star) == {"a": {"*", "id"}, "b": {"*", "a_id"}}
    assert used(ok("SELECT count(*) FROM t WHERE x = $1")) == {"t": {"x"}}


# -------------------------------------------------------------------------------------------------- DML


def test_update_and_delete_where_clauses():
    update = ok("UPDATE orders SET status = $1, total = total + $2 WHERE id = $3 RETURNING id")
    assert update.kind == "update" and update.tables == [(None, "orders")]
    assert preds(update) == {("orders", "id", "eq", None, None, None)}
    assert used(update) == {"orders": {"id", "total"}}  # SET targets are writes, not reads
    assert update.set_columns == {"status", "total"}
    delete = ok("DELETE FROM cart_items ci USING carts c WHERE c.id = ci.cart_id "
                "AND c.updated_at < now() - interval $1")
    assert delete.tables == [(None, "cart_items"), (None, "carts")]
    assert preds(delete) == {("carts", "updated_at", "range", None, None, "upper")}
    assert joins(delete) == {frozenset([("carts", "id"), ("cart_items", "cart_id")])}


def test_update_with_subquery_and_from():
    parsed = ok("UPDATE orders SET status = $3 WHERE id = (SELECT id FROM orders WHERE status = $1 "
                "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id")
    assert preds(parsed) == {("orders", "id", "eq", None, None, None),
                             ("orders", "status", "eq", None, None, None)}
    from_ = ok("UPDATE t AS tt SET x = u.x FROM u WHERE u.id = tt.u_id AND u.flag")
    assert joins(from_) == {frozenset([("u", "id"), ("t", "u_id")])}
    assert preds(from_) == {("u", "flag", "bool", None, "true", None)}


def test_insert_select_on_conflict_returning():
    parsed = ok("INSERT INTO cart_items (user_id, product_id, quantity, price) "
                "SELECT $1::int, p.id, $3::int, p.price FROM products p WHERE p.id = $2::int "
                "ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = cart_items.quantity + "
                "EXCLUDED.quantity RETURNING id")
    assert parsed.kind == "insert"
    assert parsed.tables == [(None, "cart_items"), (None, "products")]
    assert preds(parsed) == {("products", "id", "eq", None, None, None)}
    assert used(parsed) == {"products": {"id", "price"}}
    assert parsed.set_columns == {"quantity"}


def test_data_modifying_cte():
    parsed = ok("WITH moved AS (DELETE FROM cart_items WHERE created_at < $1 RETURNING *) "
                "INSERT INTO cart_items_archive SELECT * FROM moved")
    assert parsed.kind == "insert"
    assert parsed.tables == [(None, "cart_items"), (None, "cart_items_archive")]
    assert preds(parsed) == {("cart_items", "created_at", "range", None, None, "upper")}


def test_merge():
    parsed = ok("MERGE INTO stock s USING (SELECT product_id, sum(qty) q FROM order_items "
                "WHERE order_id = $1 GROUP BY product_id) d ON s.product_id = d.product_id "
                "WHEN MATCHED THEN UPDATE SET qty = s.qty - d.q")
    assert parsed.kind == "merge"
    assert parsed.tables == [(None, "stock"), (None, "order_items")]
    assert joins(parsed) == {frozenset([("stock", "product_id"), ("order_items", "product_id")])}
    assert preds(parsed) == {("order_items", "order_id", "eq", None, None, None)}


# -------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("text,reason", [
    ("hello world", "not a statement"),
    ("SELEC * FRM t", "not a statement"),
    ("}{", "syntax error"),
    ("select * from where", "syntax error"),
    ("select * from t where (((", "syntax error"),
    ("select 'unterminated from t", "tokenize error"),
    ("", "empty"),
    ("   \n\t", "empty"),
    ("-- only a comment", "empty"),
    (";", "empty"),
    ("x" * (MAX_TEXT_CHARS + 1), "too long"),
    ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "too deep"),
])
def test_unparseable_text_sets_error(text, reason):
    parsed = parse_statement(text)
    assert parsed.error is not None and parsed.error.startswith(reason), parsed.error
    assert "\n" not in parsed.error and not parsed.ok
    assert parsed.kind == "unknown" and parsed.tables == [] and parsed.predicates == []


def test_non_string_input_sets_error():
    assert parse_statement(None).error.startswith("not a string")  # type: ignore[arg-type]
    assert parse_statement(b"SELECT 1").error.startswith("not a string")  # type: ignore[arg-type]


def test_several_megabytes_is_refused_quickly():
    started = time.perf_counter()
    parsed = parse_statement("SELECT " + ", ".join(["a"] * 1_000_000) + " FROM t")
    assert parsed.error.startswith("too long")
    assert time.perf_counter() - started < 1.0


def test_never_raises_on_random_input():
    rng = random.Random(7)
    alphabet = "selectfromwhere$1234 ,;()'\"*/-\n:[]=<>@?|é" + "SELECT"
    pieces = ["SELECT", "FROM", "WHERE", "$1", "$$", "'", '"', "(", ")", "/*", "*/", "--", "::", "ANY",
              "JOIN", "ON", "WITH", "AS", "ORDER BY", "LIMIT", "=", ",", "t", "x", "IN", "LATERAL"]
    for _ in range(300):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        else:
            text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        parsed = parse_statement(text)
        assert isinstance(parsed, ParsedStatement)
        assert parsed.error is None or "\n" not in parsed.error


def test_parse_many_report():
    texts = ["SELECT * FROM t WHERE id = $1", "BEGIN", "hello world", "select 'oops", "",
             "UPDATE t SET a = $1 WHERE id = $2"]
    parsed, report = parse_many(texts)
    assert [p.kind for p in parsed] == ["select", "utility", "unknown", "unknown", "unknown", "update"]
    assert report == {
        "total": 6,
        "parsed": 3,
        "failed": 3,
        "parse_rate": 0.5,
        "by_kind": {"select": 1, "update": 1, "utility": 1},
        "failures": {"not a statement": 1, "tokenize error": 1, "empty": 1},
    }
    assert parse_many([])[1]["parse_rate"] == 1.0


# ------------------------------------------------------------------------------------------ fingerprint


@pytest.mark.parametrize("a,b", [
    ("SELECT * FROM t WHERE id = 42 LIMIT 10", "select *  from t\n where id=$1 limit $2"),
    ("select * from t where status in ('a','b','c')", "select * from t where status in ($1,$2)"),
    ("select * from lineitem where l_shipdate <= date '1998-12-01' - interval '90' day",
     "select * from lineitem where l_shipdate <= date $1 - interval $2 day"),
    ("insert into t (a,b) values (1,'x'),(2,'y')", "INSERT INTO t (a, b) VALUES ($1, $2)"),
    ("/* app */ select a from t where x = -1 and y = true", "select a from t where x = $1 and y = $2"),
    ("SELECT * FROM T WHERE Name = 'a'", "select * from t where name = $1"),
])
def test_fingerprint_ignores_constants_case_and_whitespace(a, b):
    assert fingerprint(a) == fingerprint(b)
    assert normalize(a) == normalize(b)


def test_fingerprint_tells_statements_apart():
    base = fingerprint("SELECT * FROM t WHERE id = $1")
    assert fingerprint("SELECT * FROM t WHERE id > $1") != base
    assert fingerprint("SELECT * FROM u WHERE id = $1") != base
    assert fingerprint('SELECT * FROM "T" WHERE id = $1') != base  # quoted names keep their case
    assert fingerprint("SELECT * FROM t ORDER BY 1") != fingerprint("SELECT * FROM t ORDER BY 2")


def test_fingerprint_is_stable_and_short():
    text = "SELECT id FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 10"
    assert fingerprint(text) == fingerprint(text)
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint(text))
    assert normalize(text) == "SELECT id FROM orders WHERE user_id = ? ORDER BY created_at DESC LIMIT ?"


def test_fingerprint_falls_back_for_unparseable_and_utility_text():
    truncated = "select * FROM   t where x = 'a' and y = 5.5 and"
    assert normalize(truncated) == "select * from t where x = ? and y = ? and"
    assert normalize("select 'oops  FROM   t where x = 5") == "select ?"
    assert fingerprint("select 'oops") == fingerprint("SELECT   'other")
    assert normalize("VACUUM   ANALYZE  Orders") == "vacuum analyze orders"
    assert fingerprint("SET x = 1") == fingerprint("set x = 2")
    assert isinstance(fingerprint(None), str)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- corpus

UTILITY_IN_CORPUS = [
    "BEGIN",
    "COMMIT",
    "SET application_name = 'shop-api'",
    "SHOW transaction_isolation",
    "VACUUM (ANALYZE) orders",
    "COPY order_items (order_id, product_id, quantity, price) FROM STDIN WITH (FORMAT csv)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id_idx ON orders (user_id)",
]


def _schema_for(text: str) -> dict:
    return TPCH if text.startswith("/* tpch") else ECOMMERCE


def test_corpus_parses_completely():
    texts = load_corpus()
    assert len(texts) >= 40
    parsed = [parse_statement(text, _schema_for(text)) for text in texts]
    assert [p.text for p in parsed if p.kind == "utility"] == UTILITY_IN_CORPUS
    statements = [p for p in parsed if p.kind != "utility"]
    failures = [(p.text[:60], p.error) for p in statements if not p.ok]
    assert failures == []
    assert all(p.tables for p in statements)
    _, report = parse_many(texts)
    assert report["parse_rate"] == 1.0 and report["failed"] == 0
    assert report["by_kind"]["utility"] == len(UTILITY_IN_CORPUS)


def test_corpus_extracts_what_the_advisor_needs():
    corpus = [(text, parse_statement(text, _schema_for(text))) for text in load_corpus()]

    def find(prefix: str) -> ParsedStatement:
        (match,) = [parsed for text, parsed in corpus if text.startswith(prefix)]
        return match

    login = find("SELECT id, email, name, country FROM users")
    assert preds(login) == {("users", "email", "eq", "lower(email)", None, None)}
    category = find("SELECT id, name, price, popularity")
    assert kinds(category) == {"category": "eq", "active": "bool"}
    assert category.order_by == [SortKey(col("products", "popularity"), descending=True)]
    assert category.has_limit_param
    recent = find("/* app:shop,route:/api/orders/recent")
    assert recent.tables == [("public", "orders")]
    assert kinds(recent) == {"user_id": "in", "created_at": "range", "id": "range"}
    q3 = find("/* tpch q3 */")
    assert preds(q3) == {("customer", "c_mktsegment", "eq", None, None, None),
                         ("orders", "o_orderdate", "range", None, None, "upper"),
                         ("lineitem", "l_shipdate", "range", None, None, "lower")}
    assert joins(q3) == {frozenset([("customer", "c_custkey"), ("orders", "o_custkey")]),
                         frozenset([("lineitem", "l_orderkey"), ("orders", "o_orderkey")])}
    q5 = find("/* tpch q5 */")
    assert len(q5.joins) == 6 and len(q5.tables) == 6
    q15 = find("/* tpch q15 */")
    assert q15.tables == [(None, "lineitem"), (None, "supplier")]  # revenue0 is a CTE
    assert joins(q15) == {frozenset([("supplier", "s_suppkey"), ("lineitem", "l_suppkey")])}


def test_corpus_parse_time_is_a_few_milliseconds_per_statement():
    texts = load_corpus()
    for text in texts:  # warm up sqlglot's lazy imports and caches
        parse_statement(text)
    started = time.perf_counter()
    rounds = 3
    for _ in range(rounds):
        for text in texts:
            parse_statement(text, _schema_for(text))
    per_statement_ms = (time.perf_counter() - started) * 1000 / (rounds * len(texts))
    print(f"parse_statement: {per_statement_ms:.2f} ms per statement over {len(texts)} corpus texts")
    assert per_statement_ms < 50  # generous: a few ms on a laptop; catches accidental blow-ups
