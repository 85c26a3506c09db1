"""`docs/rules.md`, generated from the rule modules' docstrings.

    python3 -m pgadvisor.advise.rules.docs > docs/rules.md

tests/test_rules.py fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import sys

from pgadvisor.advise.rules import ALL, Rule

HEADER = """# Rules

Every finding of `pgadvisor recommend` and `pgadvisor check` comes from one rule: a module of
`pgadvisor/advise/rules/` with a stable kebab-case id, whose docstring is the entry below (this file is
generated: `python3 -m pgadvisor.advise.rules.docs > docs/rules.md`). A finding's id is its stable key
`rule:schema.object[:column]`, which allow-lists and baselines match on. Its `sql` is the fix and
`rollback_sql` the undo; a fix that is not one statement we can write is a SQL comment starting
`-- manual:`.

Kinds: **static** rules read only the catalog (safe on an empty test database, the core of `check`);
**runtime** rules read statistics a test database does not have (off in `check` unless
`--include-runtime`); **workload** rules read the statements the tests ran (pg_stat_statements).
Thresholds are overridden per rule in the config (`[check.thresholds.<rule>]`) or with
`--threshold RULE.NAME=VALUE`.
"""

# pg-index-health's checks (mfvanek/pg-index-health-sql, sql/) and splinter's lints (supabase/splinter,
# lints/): (tool, check, our rule id or None, why / how it differs)
THEIRS: tuple[tuple[str, str, str | None, str], ...] = (
    ("pg-index-health", "invalid_indexes", "drop-invalid-index", ""),
    ("pg-index-health", "duplicated_indexes", "drop-duplicate-index", ""),
    ("pg-index-health", "intersected_indexes", "drop-redundant-index",
     "ours reports a key prefix of a wider index only: two indexes that merely share columns both serve lookups"),
    ("pg-index-health", "foreign_keys_without_index", "fk-without-index", ""),
    ("pg-index-health", "foreign_keys_with_unmatched_column_type", "fk-type-mismatch", ""),
    ("pg-index-health", "tables_without_primary_key", "table-without-primary-key", ""),
    ("pg-index-health", "sequence_overflow", "sequence-near-overflow",
     "ours also bounds the range by the type of the column the sequence feeds"),
    ("pg-index-health", "not_valid_constraints", "not-valid-constraint", ""),
    ("pg-index-health", "indexes_with_unnecessary_where_clause", "redundant-index-predicate",
     "ours also reports a predicate that fixes one of the index's keys"),
    ("pg-index-health", "indexes_with_null_values", "nullable-index-column",
     "only where it matters: unique indexes NULLs slip through; mostly-NULL B-trees with production statistics"),
    ("pg-index-health", "indexes_with_boolean", "low-cardinality-index", "ours looks at the first key only"),
    ("pg-index-health", "btree_indexes_on_array_columns", "btree-on-array-or-json", "ours also reports jsonb"),
    ("pg-index-health", "columns_with_timestamp_or_timetz_type", "timestamp-without-time-zone",
     "timetz left out"),
    ("pg-index-health", "columns_with_money_type", "money-column", ""),
    ("pg-index-health", "columns_with_char_type", "char-column", ""),
    ("pg-index-health", "columns_with_json_type", "json-column", ""),
    ("pg-index-health", "columns_with_serial_types", "serial-column", ""),
    ("pg-index-health", "primary_keys_with_serial_types", "serial-column", ""),
    ("pg-index-health", "non_primary_key_columns_with_serial_types", "serial-column", ""),
    ("pg-index-health", "possible_object_name_overflow", "identifier-too-long", "functions are not read"),
    ("pg-index-health", "unused_indexes", "drop-unused-index", "runtime"),
    ("pg-index-health", "tables_with_missing_indexes", None,
     "runtime seq-scan counters; in CI the workload rules cost the statements the tests ran instead"),
    ("pg-index-health", "bloated_indexes", None, "runtime (estimated from statistics): not yet"),
    ("pg-index-health", "bloated_tables", "table-bloat",
     "runtime; ours reads the dead-tuple counter (vacuum falling behind), not estimated free space"),
    ("pg-index-health", "duplicated_foreign_keys", "duplicate-foreign-key", ""),
    ("pg-index-health", "intersected_foreign_keys", None,
     "keys that share some columns are different rules; exact copies are duplicate-foreign-key"),
    ("pg-index-health", "indexes_with_timestamp_in_the_middle", None,
     "not yet; whether a range column belongs last depends on the statements, which the index advisor reads"),
    ("pg-index-health", "foreign_keys_with_null_values", None, "a nullable reference is a modelling choice"),
    ("pg-index-health", "self_referenced_foreign_keys", None, "a modelling choice (trees)"),
    ("pg-index-health", "columns_with_fixed_length_varchar", None, "a length limit is a valid constraint"),
    ("pg-index-health", "columns_with_inconsistent_types", None,
     "same-named columns of different types: a naming heuristic; the keys that matter are fk-type-mismatch"),
    ("pg-index-health", "columns_with_blob_type", None, "a storage choice the catalog cannot judge"),
    ("pg-index-health", "primary_keys_with_varchar", None, "a modelling choice"),
    ("pg-index-health", "primary_keys_that_most_likely_natural_keys", None, "a modelling choice"),
    ("pg-index-health", "tables_where_all_columns_nullable_except_pk", None, "a modelling choice"),
    ("pg-index-health", "tables_where_primary_key_columns_not_first", None, "style"),
    ("pg-index-health", "tables_with_zero_or_one_column", None, "a modelling choice"),
    ("pg-index-health", "tables_not_linked_to_others", None, "a modelling choice"),
    ("pg-index-health", "tables_with_inheritance", None, "a modelling choice (declarative partitions are read)"),
    ("pg-index-health", "tables_with_no_data", None, "a test database is often empty"),
    ("pg-index-health", "unlogged_tables", None, "a deliberate durability trade-off: not yet"),
    ("pg-index-health", "unlogged_sequences", None, "a deliberate durability trade-off: not yet"),
    ("pg-index-health", "columns_with_upper_case_names", None, "style (naming)"),
    ("pg-index-health", "objects_with_upper_case_names", None, "style (naming)"),
    ("pg-index-health", "columns_not_following_naming_convention", None, "style (naming)"),
    ("pg-index-health", "objects_not_following_naming_convention", None, "style (naming)"),
    ("pg-index-health", "tables_without_description", None, "documentation policy, not a defect"),
    ("pg-index-health", "columns_without_description", None, "documentation policy, not a defect"),
    ("pg-index-health", "functions_without_description", None, "documentation policy, not a defect"),
    ("splinter", "unindexed_foreign_keys", "fk-without-index", ""),
    ("splinter", "no_primary_key", "table-without-primary-key", ""),
    ("splinter", "duplicate_index", "drop-duplicate-index", ""),
    ("splinter", "invalid_index", "drop-invalid-index", ""),
    ("splinter", "unused_index", "drop-unused-index", "runtime"),
    ("splinter", "table_bloat", "table-bloat",
     "runtime; ours reads the dead-tuple counter (vacuum falling behind), not estimated free space"),
    ("splinter", "autovacuum_disabled", None, "not yet"),
    ("splinter", "unused_replication_slot", None, "server runtime, not a schema finding"),
    ("splinter", "extension_in_public", None, "security/hygiene lint, out of this tool's scope"),
    ("splinter", "extension_versions_outdated", None, "server maintenance, out of scope"),
    ("splinter", "pg17_deprecated_extensions", None, "server maintenance, out of scope"),
    ("splinter", "unsupported_reg_types", None, "pg_upgrade readiness, out of scope"),
    ("splinter", "function_search_path_mutable", None, "security lint, out of scope"),
    ("splinter", "security_definer_view", None, "security lint, out of scope"),
    ("splinter", "multiple_permissive_policies", None, "row-level security, out of scope"),
    ("splinter", "policy_exists_rls_disabled", None, "row-level security, out of scope"),
    ("splinter", "rls_enabled_no_policy", None, "row-level security, out of scope"),
    ("splinter", "rls_policy_always_true", None, "row-level security, out of scope"),
    ("splinter", "auth_rls_initplan", None, "Supabase auth functions in policies"),
    ("splinter", "rls_disabled_in_public", None, "Supabase API exposure"),
    ("splinter", "auth_users_exposed", None, "Supabase auth schema"),
    ("splinter", "auth_allow_anonymous_sign_ins", None, "Supabase auth"),
    ("splinter", "rls_references_user_metadata", None, "Supabase auth"),
    ("splinter", "fkey_to_auth_unique", None, "Supabase auth schema"),
    ("splinter", "materialized_view_in_api", None, "Supabase API exposure"),
    ("splinter", "foreign_table_in_api", None, "Supabase API exposure"),
    ("splinter", "insecure_queue_exposed_in_api", None, "Supabase API exposure"),
    ("splinter", "sensitive_columns_exposed", None, "Supabase API exposure"),
    ("splinter", "public_bucket_allows_listing", None, "Supabase storage"),
    ("splinter", "pg_graphql_anon_table_exposed", None, "Supabase pg_graphql"),
    ("splinter", "pg_graphql_authenticated_table_exposed", None, "Supabase pg_graphql"),
    ("splinter", "anon_security_definer_function_executable", None, "Supabase roles"),
    ("splinter", "authenticated_security_definer_function_executable", None, "Supabase roles"),
)


def _number(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"


def _entry(rule: Rule) -> str:
    head, _, body = rule.doc.partition("\n")
    title = head.split(": ", 1)[1] if ": " in head else head
    meta = f"*{rule.kind}* · default severity **{rule.default_severity}**"
    req = rule.requires
    if req is not None:
        needs = [f"PostgreSQL {req.min_version // 10000}+" if req.min_version else "",
                 *(f"the {e} extension" for e in req.extensions), req.privilege or ""]
        meta += " · requires " + ", ".join(n for n in needs if n)
    if rule.thresholds:
        meta += " · thresholds: " + ", ".join(f"`{k}` = {_number(v)}" for k, v in rule.thresholds.items())
    return f"## `{rule.id}`\n\n{title[:1].upper() + title[1:]}\n\n{meta}\n\n{body.strip()}\n"


def render() -> str:
    rules = list(ALL.values())
    index = ["| rule | kind | severity | what it finds |", "|---|---|---|---|"]
    index += [f"| [`{r.id}`](#{r.id}) | {r.kind} | {r.default_severity} | {r.summary.split(': ', 1)[-1]} |"
              for r in rules]
    theirs = ["| tool | check | pgadvisor | notes |", "|---|---|---|---|"]
    theirs += [f"| {tool} | `{check}` | {f'`{ours}`' if ours else '—'} | {why} |" for tool, check, ours, why in THEIRS]
    parts = [HEADER, "\n".join(index), "", *(_entry(r) for r in rules),
             "## pg-index-health and splinter\n\nTheir checks (pg-index-health-sql's `sql/`, splinter's `lints/`), "
             "which rule of ours covers each, and why we leave the others out.\n", "\n".join(theirs), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
