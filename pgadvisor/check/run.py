"""One `check` run: read the test database (through pg/, read-only), run the rules in scope, then judge
the findings against the allow-list and the baseline. `gather` talks to the server; `evaluate` is pure
(it runs offline over a schema dict, as the benchmarks and tests do)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from pgadvisor.check.anchors import Anchors
from pgadvisor.check.config import MIGRATION_TABLES, AllowEntry, CheckConfig
from pgadvisor.check.keys import key_of, object_name, parts
from pgadvisor.check.result import CheckResult, Finding, RuleRun, level_of
from pgadvisor.check.rules import RuleInfo, ServerFacts, registry, select, unmet
from pgadvisor.findings import Recommendation, rank


@dataclass
class Inputs:
    """What `check` reads from the test database."""

    database: str
    server_version: str
    schema: dict[str, Any]
    facts: ServerFacts
    stats_window_days: float | None = None
    notes: list[str] = field(default_factory=list)


def gather(dsn: str) -> Inputs:
    """Read the test database: server facts (version, extensions, privileges, whether pg_stat_statements
    can be read), the schema (`catalog.read_schema`) and the statistics window."""
    import psycopg

    from pgadvisor.pg import catalog
    from pgadvisor.pg.connect import connect

    notes: list[str] = []
    with connect(dsn) as conn, catalog.snapshot_transaction(conn):
        info = catalog.server_info(conn)
        pgss = catalog.pgss_state(conn)
        hypo = catalog.hypopg_state(conn)
        schema = catalog.read_schema(conn, notes)
        age = catalog.stats_age_days(conn)
        problem = None
        if not pgss.get("extversion"):
            problem = "pg_stat_statements is not created in this database"
        else:
            try:
                with catalog.savepoint(conn):
                    catalog.pgss_count(conn, pgss["extschema"])
            except psycopg.Error as exc:
                problem = f"pg_stat_statements cannot be read ({str(exc).splitlines()[0]})"
    extensions = {name: v for name, v in (("pg_stat_statements", pgss.get("extversion")),
                                           ("hypopg", hypo.get("version"))) if v}
    facts = ServerFacts(int(info["version_num"]), extensions, bool(pgss.get("superuser")),
                        bool(pgss.get("read_all_stats")), problem is None, problem)
    return Inputs(info["datname"], info["version"], schema, facts, age, notes)


def scope_schema(schema: dict[str, Any], schemas: tuple[str, ...], skip_migration_tables: bool) -> dict[str, Any]:
    """The schema dict without what is out of scope: other schemas, and the migration tools' tables
    (every list of dicts that name a `schema` and a `table`, or a relation by `name`)."""
    keep_schemas = set(schemas)

    def keep(item: Any, rel_key: str) -> bool:
        if not isinstance(item, dict):
            return True
        if keep_schemas and item.get("schema") is not None and item["schema"] not in keep_schemas:
            return False
        return not (skip_migration_tables and item.get(rel_key) in MIGRATION_TABLES)

    out: dict[str, Any] = {}
    for name, value in schema.items():
        if isinstance(value, list):
            rel_key = "name" if name == "relations" else "table"
            out[name] = [x for x in value if keep(x, rel_key)]
        else:
            out[name] = value
    return out


def _catalog_options(inputs: Inputs, config: CheckConfig) -> Any:
    from pgadvisor.advise.rules.common import CatalogOptions

    # a test database's row counts and write counters say nothing about production
    return CatalogOptions(stats_window_days=inputs.stats_window_days, thresholds=config.thresholds,
                          trust_statistics=False)


def _scan(schema: dict[str, Any], options: Any) -> Any:
    from pgadvisor.advise.rules.common import CatalogScan

    return CatalogScan(schema, options)


class _Once:
    """The workload facts, gathered at the first workload rule that runs (never when none does)."""

    def __init__(self, get: Callable[[], Any] | None):
        self.get, self.value, self.called = get, None, False

    def __call__(self) -> Any:
        if not self.called:
            self.value, self.called = self.get(), True
        return self.value


def run_rules(inputs: Inputs, config: CheckConfig, workload: Callable[[], Any] | None = None,
              rules: dict[str, RuleInfo] | None = None) -> tuple[list[RuleRun], list[Recommendation], Any]:
    """Every rule in its status, the recommendations of those that ran (registry order: a rule that
    flags an index first keeps it), and the workload facts when a workload rule ran. `workload` gathers
    those facts (`pgadvisor.advise.rules.workload.gather`); without it workload rules are skipped."""
    rules = rules if rules is not None else registry()
    _, off = select(rules, config.include, config.exclude, config.include_runtime)
    schema = scope_schema(inputs.schema, config.schemas, config.skip_migration_tables)
    options = _catalog_options(inputs, config)
    scan = _scan(schema, options)
    runs: list[RuleRun] = []
    recs: list[Recommendation] = []
    facts = _Once(workload)
    for rid, rule in rules.items():
        run = RuleRun(rid, rule.kind, rule.severity, rule.summary, rule.doc, "off", off.get(rid, ""))
        runs.append(run)
        if rid in off:
            continue
        why = unmet(rule, inputs.facts)
        if not why and rule.kind == "workload" and workload is None:
            why = "workload rules read the test database's statements: run check against a database"
        if why:
            run.status, run.reason = "skipped", why
            continue
        rule_started = time.perf_counter()
        try:
            if rule.kind == "workload":
                found = list(rule.find_workload(facts(), scan))
            else:
                found = list(rule.find(scan))
        except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the others' findings
            from pgadvisor.errors import PgAdvisorError, one_line

            if isinstance(exc, PgAdvisorError) and exc.exit_code == 2:
                raise
            run.status, run.reason = "failed", f"{exc.__class__.__name__}: {one_line(exc)}"
            continue
        run.status, run.findings, run.seconds = "ran", len(found), time.perf_counter() - rule_started
        if rule.kind == "workload":
            run.limit = facts.value.limits.get(rid, "")
        recs += found
    return runs, recs, facts.value


def evaluate(inputs: Inputs, config: CheckConfig, *, anchors: Anchors | None = None,
             baseline: dict[str, dict[str, Any]] | None = None, baseline_path: str | None = None,
             workload: Callable[[], Any] | None = None, today: dt.date | None = None) -> CheckResult:
    """Run the rules and judge their findings: allow-list, then baseline; the result knows its exit code."""
    started = time.perf_counter()
    runs, recs, facts = run_rules(inputs, config, workload)
    today = today or dt.date.today()
    findings = []
    for rec in rank(recs):
        key = key_of(rec)
        f = Finding(rec, key, level_of(rec.severity))
        if anchors is not None:
            schema, name = object_name(key)
            f.anchor = anchors.locate(schema, name, parts(key)[2]) or _table_anchor(anchors, rec)
        findings.append(f)
    notes = list(inputs.notes) + (facts.notes if facts is not None else [])
    notes += _apply_allow(findings, config.allow, today)
    fixed = []
    if baseline is not None:
        for f in findings:
            if f.status == "new" and f.key in baseline:
                f.status = "baseline"
        found = {f.key for f in findings}
        ran = {r.id for r in runs if r.status == "ran"}
        fixed = [row for key, row in sorted(baseline.items()) if key not in found and row.get("rule") in ran]
    result = CheckResult(inputs.database, inputs.server_version, config.fail_on, runs, findings, fixed, notes,
                         baseline_path, config.source, time.perf_counter() - started)
    result.statements = sorted(getattr(facts, "fingerprints", None) or ())
    return result


def _table_anchor(anchors: Anchors, rec: Recommendation) -> tuple[str, int] | None:
    """An index finding's table when the index itself is not in the files (created elsewhere)."""
    schema, dot, table = (rec.target or "").partition(".")
    return anchors.locate(schema, table) if dot else None


def _apply_allow(findings: list[Finding], entries: tuple[AllowEntry, ...], today: dt.date) -> list[str]:
    """Suppress the findings a live entry matches; an expired entry suppresses nothing and says so, an
    entry that matches nothing is reported (the finding is gone: remove the entry)."""
    notes = []
    for entry in entries:
        matched = [f for f in findings if fnmatchcase(f.key, entry.key)]
        if entry.expired(today):
            notes.append(f"{entry.where}: allow-list entry {entry.key!r} expired on {entry.expires.isoformat()}: "
                         f"it no longer suppresses ({len(matched)} finding{'s' if len(matched) != 1 else ''}); "
                         "fix them, or renew the entry with a reason")
            continue
        if not matched:
            notes.append(f"{entry.where}: allow-list entry {entry.key!r} matches no finding: remove it")
        for f in matched:
            if f.status == "new":
                f.status, f.allowed_by = "allowed", entry
    return notes


def _model_rules_on(config: CheckConfig) -> bool:
    """Whether a rule that needs the query-time model is in scope (loading one imports xgboost: ~1 s)."""
    rules = registry()
    _, off = select(rules, config.include, config.exclude, config.include_runtime)
    return any(getattr(r.rule.requires, "model", False) for rid, r in rules.items() if rid not in off)


def production_model(location: str, server: str | None, plugins: dict[str, Any] | None = None
                     ) -> tuple[Callable[[list[Any]], list[dict[str, Any]]] | None, str | None, str | None]:
    """(predict plans, which model, why none) for the production store's newest readable query-time model of
    `server` (the store's only server when None); `plugins`: the model plugins that load, by name. A store
    without a usable model is not an error for `check`: the rule that needs one is skipped with why."""
    from pgadvisor.errors import PgAdvisorError, one_line
    from pgadvisor.models.predict import predict_plans
    from pgadvisor.models.train import load_model
    from pgadvisor.store.api import open_store
    from pgadvisor.workload import pick_server

    try:
        with open_store(location, read_only=True) as store:
            name = pick_server(store, server, none_yet=f"{location} holds no snapshots yet")
            model, record = load_model(store, name, plugins=plugins)
    except PgAdvisorError as exc:
        return None, None, one_line(exc)

    def predict(plans: list[Any]) -> list[dict[str, Any]]:
        return predict_plans(model, plans, [""] * len(plans), record["version"])

    return predict, f"v{record['version']} ({record['kind']}) of {name}", None


def run_check(dsn: str, config: CheckConfig, *, anchors: Anchors | None = None, baseline_path: str | None = None,
              production_store: str | None = None, server: str | None = None,
              model_plugins: dict[str, Any] | None = None) -> CheckResult:
    """`pgadvisor check`: gather, then evaluate; the baseline file and the production store are read before
    the database is (a bad one fails first, even when no workload rule can run)."""
    from pgadvisor.advise.rules.workload import store_sizes
    from pgadvisor.check.baseline import baseline_rows, read_baseline

    doc = read_baseline(baseline_path) if baseline_path else None
    production = store_sizes(production_store, server) if production_store else None
    predict, model, model_problem = None, None, "no --production-store"
    if production_store and _model_rules_on(config):
        predict, model, model_problem = production_model(production_store, server, model_plugins)
    started = time.perf_counter()
    inputs = gather(dsn)
    inputs.facts = replace(inputs.facts, model=model, model_problem=model_problem)
    baseline = baseline_rows(doc, inputs.database) if doc is not None else None

    def workload() -> Any:
        from pgadvisor.advise.rules import workload as gather_workload

        # the catalog is read once per run (on 2,000 tables a read costs a second or more)
        return gather_workload.gather(dsn, production_sizes=production, rows=config.rows,
                                      baseline_statements=(doc or {}).get("statements"), schema=inputs.schema,
                                      predict=predict, model=model)

    result = evaluate(inputs, config, anchors=anchors, baseline=baseline, baseline_path=baseline_path,
                      workload=workload)
    result.seconds = time.perf_counter() - started
    return result
