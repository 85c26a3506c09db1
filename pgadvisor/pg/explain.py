"""The one way pgadvisor sends EXPLAIN to a monitored server (DESIGN §5, docs/security.md rule 1).

Every text passes the code guard first (pg/guard.py): one explainable statement that reaches no
untrusted code. It is then sent with the extended query protocol (one statement per message, so a
text cannot smuggle in a second one) inside a read-only transaction, or a savepoint of the caller's,
that is rolled back (`_planned`): one failure does not abort the rest and nothing the statement could
change outlives it. Never `EXPLAIN ANALYZE`.

Parameterized texts from pg_stat_statements get a generic plan: a prepared statement under
`plan_cache_mode = force_generic_plan` explained with NULL arguments, on every version. A parameter
whose type PostgreSQL cannot infer (`$1 - $2`, `THEN $3`) makes the statement fail to prepare; the
what-if engine retries it with such parameters cast (`explain_casting`, `_cast_params`).

Also here: `plan_hash`, the hash of a plan's shape that collect stores so plan changes are visible.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from pgadvisor.marker import mark
from pgadvisor.pg import catalog
from pgadvisor.pg.guard import CodeGuard, tokens

_PREPARED = "pgadvisor_whatif"
# each failed PREPARE names one more parameter to cast (or one more kind of cast): a statement that still
# fails after this many tries has another problem
MAX_CAST_TRIES = 6


class Refused(Exception):
    """A text the code guard does not let pgadvisor plan (pg/guard.py); the message says why."""


def strip_statement(text: str) -> str:
    """The statement without surrounding whitespace and its trailing semicolon."""
    return text.strip().rstrip(";").strip()


def explain_generic(conn: psycopg.Connection, text: str, code: CodeGuard) -> list | None:
    """EXPLAIN (FORMAT JSON) of the generic plan of a pg_stat_statements text; None if the code guard
    refuses it (pg/guard.py) or it cannot be planned."""
    if code.reason(text):
        return None
    try:
        return explain_json(conn, strip_statement(text))
    except psycopg.Error:
        return None


def explain_casting(conn: psycopg.Connection, text: str, code: CodeGuard,
                    typed: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`EXPLAIN (FORMAT JSON)` of a statement, a generic plan when it has `$n` parameters.

    The text must pass the code guard, else `Refused` is raised and nothing is sent. A parameter whose
    type PostgreSQL cannot infer makes the statement fail to prepare; it is retried with such parameters
    cast (numeric, else text). `typed` remembers, per text, the cast body that could be planned.
    psycopg.Error when it cannot be planned.
    """
    why = code.reason(text)
    if why:
        raise Refused(why)
    typed = {} if typed is None else typed
    original = strip_statement(text)
    body = typed.get(text) or original
    for _ in range(MAX_CAST_TRIES):
        try:
            plan = explain_json(conn, body)
        except psycopg.Error as exc:
            fixed = _cast_params(body, str(exc))
            if fixed is None or fixed == body:
                raise
            body = fixed
            continue
        if body != original:
            typed[text] = body
        return plan
    return explain_json(conn, body)


def explain_json(conn: psycopg.Connection, body: str) -> list[dict[str, Any]]:
    """`EXPLAIN (FORMAT JSON)` of one statement, the generic plan when it has `$n` parameters: a prepared
    statement explained with NULL arguments under force_generic_plan, on every version (`EXPLAIN
    (GENERIC_PLAN)` cannot go over the extended protocol: the server would count its `$n` as the
    message's own parameters).
    The caller has checked `body` with the code guard; psycopg.Error when it cannot be planned."""
    n = _max_param(body)
    if not n:
        return _json(_planned(conn, f"EXPLAIN (FORMAT JSON) {body}")[0])
    args = ", ".join(["NULL"] * n)
    return _json(_planned(conn, f"EXPLAIN (FORMAT JSON) EXECUTE {_PREPARED}({args})", prepare=body)[0])


@lru_cache(maxsize=4096)  # the distinct texts of a run, about; a bound on memory, not tuned
def _max_param(body: str) -> int:
    """The highest `$n` of a statement (outside strings and comments): how many parameters PREPARE infers."""
    return max((int(t.text[1:]) for t in tokens(body) if t.kind == "param"), default=0)


def _planned(conn: psycopg.Connection, query: str, prepare: str | None = None) -> tuple:
    """The one row `query` returns, run in a read-only transaction (or, inside the caller's, a
    savepoint) that is rolled back, and sent with the extended protocol: one statement per message,
    so a text cannot smuggle in a second one. `prepare`: a statement to PREPARE as `_PREPARED` first
    and explain as a generic plan (before PostgreSQL 16); deallocated after (PREPARE is not
    transactional)."""
    generic = mark("SET LOCAL plan_cache_mode = force_generic_plan")
    own = conn.info.transaction_status == TransactionStatus.IDLE and conn.autocommit
    left = prepare is not None  # whether our prepared statement may still exist when we are done
    try:
        if own:
            with conn.pipeline():  # BEGIN … ROLLBACK, DEALLOCATE: one round trip
                conn.execute(mark("BEGIN READ ONLY"))
                if prepare is not None:
                    conn.execute(generic)
                    conn.execute(mark(f"PREPARE {_PREPARED} AS {prepare}"))
                cur = conn.execute(mark(query))
                conn.execute(mark("ROLLBACK"))
                if prepare is not None:
                    conn.execute(mark(f"DEALLOCATE {_PREPARED}"))
            left = False
            return cur.fetchone()
        with catalog.savepoint(conn, keep=False), conn.cursor() as cur:
            if prepare is not None:
                cur.execute(generic, binary=True)
                cur.execute(mark(f"PREPARE {_PREPARED} AS {prepare}"), binary=True)
            cur.execute(mark(query), binary=True)
            return cur.fetchone()
    except psycopg.Error:
        if own and not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute(mark("ROLLBACK"))  # the pipeline stopped at the error, before its ROLLBACK
        raise
    finally:
        # only after a failed pipeline (which skipped its DEALLOCATE) or inside the caller's transaction
        if left and not conn.closed and conn.info.transaction_status != TransactionStatus.INERROR:
            with conn.cursor() as cur:
                cur.execute(mark("SELECT 1 FROM pg_prepared_statements WHERE name = %s"), (_PREPARED,))
                if cur.fetchone():
                    cur.execute(mark(f"DEALLOCATE {_PREPARED}"))


def select_one(conn: psycopg.Connection, query: str, code: CodeGuard) -> tuple:
    """The one row of a query pgadvisor composed around untrusted text (the heuristic's sampled filter),
    run as safely as an EXPLAIN: guarded (`Refused`), extended protocol, read-only, rolled back."""
    why = code.reason(query)
    if why:
        raise Refused(why)
    return _planned(conn, query)


def _json(value: Any) -> list[dict[str, Any]]:
    return json.loads(value) if isinstance(value, str) else value


_ARITH_PAIR = re.compile(r"(\$\d+)(?!::)(\s*[-+*/]\s*)(\$\d+)(?!::)")
_CASE_RESULT = re.compile(r"\b(then|else)(\s+)(\$\d+)(?!\s*::)", re.I)
_TYPED_OP = re.compile(r"operator is not unique: ([a-z][a-z ]*?) ([-+*/]) unknown")
_UNTYPED = re.compile(r"could not determine data type of parameter \$(\d+)")
# `$1 + $2 + $3 …`: each pass casts the pairs the last one left; longer chains are not seen in practice
_MAX_CAST_PASSES = 8


def _cast_params(body: str, error: str) -> str | None:
    """`body` with casts on the parameters PostgreSQL could not type, or None when the error is another."""
    m = _UNTYPED.search(error)
    if m:
        return re.sub(rf"\${m.group(1)}(?!\d)(?!::)", f"${m.group(1)}::text", body)
    if not any(s in error for s in ("operator is not unique", "does not exist", "could not determine")):
        return None
    m = _TYPED_OP.search(error)
    if m:  # `d_date + $5`: the parameter is what that type takes on that side (days, an interval, a number)
        left, op = m.group(1), m.group(2)
        cast = "integer" if left == "date" else "interval" if left.startswith(("timestamp", "time ")) else "numeric"
        fixed = re.sub(rf"(\s{re.escape(op)}\s*)(\$\d+)(?!\d)(?!\s*::)", rf"\1\2::{cast}", body)
        if fixed != body:
            return fixed
    out = body
    for _ in range(_MAX_CAST_PASSES):
        new = _ARITH_PAIR.sub(r"\1::numeric\2\3::numeric", out)
        if new == out:
            break
        out = new
    return _CASE_RESULT.sub(r"\1\2\3::numeric", out)


# the plan keys that make its shape: node types, relations, indexes, join kinds (not cost estimates)
_SHAPE_KEYS = (
    "Node Type",
    "Relation Name",
    "Schema",
    "Index Name",
    "Join Type",
    "Strategy",
    "Parent Relationship",
    "Scan Direction",
    "Sort Key",
    "Group Key",
    "Hash Cond",
    "Index Cond",
    "Partial Mode",
    "CTE Name",
)


def plan_hash(plan: Any) -> str:
    """Hash of a plan's shape (node types, relations, indexes, join kinds), not its cost estimates."""

    def shape(node: dict) -> list:
        return [[(k, node[k]) for k in _SHAPE_KEYS if k in node], [shape(c) for c in node.get("Plans", [])]]

    root = plan[0]["Plan"] if isinstance(plan, list) else plan.get("Plan", plan)
    return hashlib.sha1(json.dumps(shape(root), sort_keys=True, default=str).encode()).hexdigest()[:16]
