"""The migration to a recommended layout: native DDL that runs, and the equivalent pg_partman call.

The native script, in one transaction: a new partitioned table `LIKE` the old one (defaults, NOT NULL
and CHECK constraints, storage, comments), its partitions (RANGE: from the trunc of the data's min to
`PREMAKE` intervals past its max, computed when it runs; LIST: one per value; HASH: one per remainder)
and a DEFAULT partition (RANGE, LIST), the primary key and unique constraints widened to include the
key, the plain indexes, the outgoing foreign keys, the copy of every row, the swap of names, and the
sequence's ownership. The old table stays as `<name>_old` until you drop it. It takes an ACCESS
EXCLUSIVE lock on the table for the copy: run it in a maintenance window, or copy in batches first.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.indexdef import qualified, quote_ident
from pgadvisor.pg.partition import INTERVALS, PartitionSpec

# future partitions made ahead of the data (pg_partman's own default premake is 4)
PREMAKE = 4
_NAME_FORMAT = {"day": "YYYYMMDD", "week": "IYYY\"w\"IW", "month": "YYYYMM"}


def native(schema: str, table: str, profile: dict[str, Any], spec: PartitionSpec) -> str:
    """The native migration script (see the module's docstring)."""
    new = f"{table}_partitioned"[:63]
    q_old, q_new = qualified(schema, table), qualified(schema, new)
    cols = {c["name"]: c for c in profile["columns"]}
    how = {"range": "RANGE", "list": "LIST", "hash": "HASH"}[spec.strategy]
    out = ["BEGIN;", "SET LOCAL lock_timeout = '5s';",
           f"LOCK TABLE {q_old} IN SHARE MODE;  -- no writes while the rows are copied",
           f"CREATE TABLE {q_new} (LIKE {q_old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
           f"INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY {how} "
           f"({quote_ident(spec.column)});"]
    out += _partitions(schema, table, new, spec, cols[spec.column]["type"])
    for u in profile.get("unique", []):
        keys = list(u["columns"]) + ([spec.column] if spec.column not in u["columns"] else [])
        kind = "PRIMARY KEY" if u["type"] == "p" else "UNIQUE"
        out.append(f"ALTER TABLE {q_new} ADD {kind} ({', '.join(quote_ident(k) for k in keys)});")
    for ix in profile.get("indexes", []):
        if ix["is_unique"] or ix["has_expr"] or ix["partial"] or not ix["columns"]:
            continue
        keys = ", ".join(quote_ident(c) for c in ix["columns"])
        out.append(f"CREATE INDEX ON {q_new} USING {ix['method']} ({keys});")
    for fk in profile.get("fk_out", []):
        out.append(f"ALTER TABLE {q_new} ADD CONSTRAINT {quote_ident(fk['name'])} {fk['definition']};")
    out.append(f"INSERT INTO {q_new} OVERRIDING SYSTEM VALUE SELECT * FROM {q_old};")
    out.append(f"ALTER TABLE {q_old} RENAME TO {quote_ident(table + '_old')};")
    out.append(f"ALTER TABLE {q_new} RENAME TO {quote_ident(table)};")
    for c in profile["columns"]:
        if c.get("generated_key"):
            out.append(_sequence(schema, table, c["name"]))
    out.append("COMMIT;")
    out.append(f"-- when the application works on the new table: DROP TABLE {qualified(schema, table + '_old')};")
    return "\n".join(out)


def _sequence(schema: str, table: str, column: str) -> str:
    """The key's sequence follows the rows: a serial's sequence is owned by the new table, and the new
    identity's sequence (or the serial's) is set past the copied keys."""
    new = qualified(schema, table).replace("'", "''")
    old = qualified(schema, table + "_old").replace("'", "''")
    col = column.replace("'", "''")
    return (f"DO $$ DECLARE s text := pg_get_serial_sequence('{old}', '{col}'); BEGIN\n"
            f"  IF s IS NOT NULL AND pg_get_serial_sequence('{new}', '{col}') IS NULL THEN\n"
            f"    EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', s, '{new}', '{col}');\n"
            f"  END IF;\nEND $$;\n"
            f"SELECT setval(pg_get_serial_sequence('{new}', '{col}'), max({quote_ident(column)})) "
            f"FROM {qualified(schema, table)} HAVING max({quote_ident(column)}) IS NOT NULL;")


def _partitions(schema: str, table: str, new: str, spec: PartitionSpec, col_type: str) -> list[str]:
    q_new = qualified(schema, new)
    if spec.strategy == "hash":
        return [f"CREATE TABLE {qualified(schema, f'{table}_p{r}')} PARTITION OF {q_new} "
                f"FOR VALUES WITH (MODULUS {spec.modulus}, REMAINDER {r});" for r in range(spec.modulus)]
    if spec.strategy == "list":
        parts = [f"CREATE TABLE {qualified(schema, f'{table}_p{i}')} PARTITION OF {q_new} FOR VALUES IN "
                 f"('{v.replace(chr(39), chr(39) * 2)}');" for i, v in enumerate(spec.values)]
        return parts + [f"CREATE TABLE {qualified(schema, table + '_default')} PARTITION OF {q_new} DEFAULT;"]
    step = INTERVALS[spec.interval]
    col = quote_ident(spec.column)
    body = (f"DO $$ DECLARE d {col_type}; hi {col_type}; BEGIN\n"
            f"  SELECT date_trunc('{spec.interval}', min({col}))::{col_type}, "
            f"max({col}) + interval '{step}' * {PREMAKE} INTO d, hi FROM {qualified(schema, table)};\n"
            f"  WHILE d <= hi LOOP\n"
            f"    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)', "
            f"'{schema}', '{table}_p' || to_char(d, '{_NAME_FORMAT[spec.interval]}'), '{schema}', '{new}', "
            f"d, (d + interval '{step}')::{col_type});\n"
            f"    d := (d + interval '{step}')::{col_type};\n"
            f"  END LOOP;\nEND $$;")
    return [body, f"CREATE TABLE {qualified(schema, table + '_default')} PARTITION OF {q_new} DEFAULT;"]


def partman(schema: str, table: str, spec: PartitionSpec, start: str | None, retention_days: float | None) -> str:
    """The pg_partman 5 equivalent (RANGE only): create_parent on the new, empty parent, and retention."""
    if spec.strategy != "range":
        return "-- pg_partman manages time and integer RANGE partitions only: use the native script"
    parent = f"{schema}.{table}_partitioned".replace("'", "''")
    args = [f"p_parent_table := '{parent}'", f"p_control := '{spec.column}'",
            f"p_interval := '{INTERVALS[spec.interval]}'", f"p_premake := {PREMAKE}"]
    if start:
        args.append(f"p_start_partition := '{start.replace(chr(39), chr(39) * 2)}'")
    out = [f"-- after CREATE TABLE {parent} (LIKE ...) PARTITION BY RANGE ({spec.column}) of the native script,",
           "-- instead of its DO block of partitions:",
           f"SELECT partman.create_parent({', '.join(args)});"]
    if retention_days:
        out.append(f"UPDATE partman.part_config SET retention = '{round(retention_days)} days', "
                   f"retention_keep_table = false WHERE parent_table = '{parent}';")
    return "\n".join(out)
