"""`pgadvisor check` and `pgadvisor baseline`: the CI gate (issue 11)."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path

import typer

from pgadvisor.cli.app import DSN_HELP, _fail, app
from pgadvisor.errors import PgAdvisorError, UsageError


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    github = "github"
    junit = "junit"
    sarif = "sarif"
    gitlab = "gitlab"


class BaselineFormat(str, Enum):
    json = "json"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


DsnCheckOpt = typer.Option("", "--dsn", envvar="PGADVISOR_DSN", help=DSN_HELP + " (the test database)")
ConfigOpt = typer.Option(None, "--config", help="configuration file (pgadvisor.toml, or a pyproject.toml with "
                         "[tool.pgadvisor]); default: the nearest one from the working directory up")
OutputOpt = typer.Option(None, "--output", "-o", help="write the report to this file instead of stdout")
IncludeOpt = typer.Option(None, "--rule", help="run only this rule (repeatable; default: every static and "
                          "workload rule)")
ExcludeOpt = typer.Option(None, "--exclude", help="do not run this rule (repeatable)")
SchemaOpt = typer.Option(None, "--schema", help="check only this schema (repeatable; default: all but the system "
                         "schemas)")
RuntimeOpt = typer.Option(None, "--include-runtime/--no-include-runtime", help="also run the runtime rules "
                          "(unused index, ...): off by default, test-database statistics say nothing about "
                          "production")


def _config(path: str | None):
    from pgadvisor.config import locate_config, read_config

    return read_config(path) if path else locate_config()


def _dsn(ctx: typer.Context, dsn: str, found) -> str:
    """--dsn or PGADVISOR_DSN; else the `dsn` of a --config file (the nearest file's is the default_map)."""
    source = getattr(ctx.get_parameter_source("dsn"), "name", None)
    if source in ("COMMANDLINE", "ENVIRONMENT") or found is None:
        return dsn
    value = found.conf.get("dsn", dsn)
    if not isinstance(value, str):
        raise UsageError(f"{found.where('', 'dsn')}: dsn must be a string")
    return value


def _writable(path: str | None) -> None:
    """UsageError when the report could not be written there (checked before the database is read)."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--output: {path} is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--output: cannot write {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"--output: cannot write {path}: permission denied")


def _emit(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output: cannot write {output}: {exc.strerror or exc}") from None


def _thresholds(flags: list[str] | None) -> dict[str, dict[str, float]] | None:
    from pgadvisor.check.config import parse_threshold_flag

    if not flags:
        return None
    out: dict[str, dict[str, float]] = {}
    for text in flags:
        rule, name, value = parse_threshold_flag(text)
        out.setdefault(rule, {})[name] = value
    return out


def render(result, fmt: CheckFormat, verbose: bool = False) -> str:
    """The report in `fmt` (the renderers of pgadvisor.report)."""
    if fmt == CheckFormat.json:
        import json

        return json.dumps(result.to_document(), indent=2, default=str, ensure_ascii=False) + "\n"
    if fmt == CheckFormat.markdown:
        from pgadvisor.report.check_text import markdown

        return markdown(result)
    if fmt == CheckFormat.github:
        from pgadvisor.report.github import annotations

        return annotations(result)
    if fmt == CheckFormat.junit:
        from pgadvisor.report.junit import junit

        return junit(result)
    if fmt == CheckFormat.sarif:
        from pgadvisor.report.sarif import sarif

        return sarif(result)
    if fmt == CheckFormat.gitlab:
        from pgadvisor.report.gitlab import gitlab

        return gitlab(result, result.config and os.path.relpath(result.config) or "pgadvisor.toml")
    from pgadvisor.report.check_text import text

    return text(result, verbose)


def _github(result, fmt: CheckFormat) -> None:
    """On GitHub Actions: annotations on stderr (unless --format github printed them) and the Markdown
    summary appended to $GITHUB_STEP_SUMMARY."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    if fmt != CheckFormat.github:
        from pgadvisor.report.github import annotations

        sys.stderr.write(annotations(result))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from pgadvisor.report.check_text import markdown

        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(markdown(result) + "\n")
        except OSError as exc:
            sys.stderr.write(f"warning: cannot append to $GITHUB_STEP_SUMMARY ({summary}): {exc.strerror or exc}\n")


def _list_rules(value: bool) -> None:
    if not value:
        return
    from pgadvisor.check.rules import registry

    for r in registry().values():
        typer.echo(f"{r.id:<32} {r.kind:<9} {r.severity:<7} {r.summary}")
    raise typer.Exit()


@app.command()
def check(
    ctx: typer.Context,
    dsn: str = DsnCheckOpt,
    config: str | None = ConfigOpt,
    fail_on: FailOn | None = typer.Option(None, "--fail-on", help="exit 1 when a new finding is at or above this "
                                          "level (default warning; high = error, medium = warning, low and "
                                          "info = info); never: always exit 0 unless check could not run"),
    fmt: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f", help="report format"),
    output: str | None = OutputOpt,
    baseline: str | None = typer.Option(None, "--baseline", help="fail only on findings not in this file "
                                        "(from `pgadvisor baseline`), and list the fixed ones"),
    rule: list[str] = IncludeOpt,
    exclude: list[str] = ExcludeOpt,
    schema: list[str] = SchemaOpt,
    include_runtime: bool | None = RuntimeOpt,
    threshold: list[str] = typer.Option(None, "--threshold", help="a rule's threshold, RULE.NAME=NUMBER "
                                        "(repeatable; beats [check.thresholds])"),
    schema_file: str | None = typer.Option(None, "--schema-file", help="the schema file that defines the "
                                           "objects: findings point at their CREATE lines (SARIF, GitLab, GitHub)"),
    migrations: str | None = typer.Option(None, "--migrations", help="a directory of .sql migrations (read in "
                                          "file-name order): findings point at the CREATE that defines the object"),
    production_store: str | None = typer.Option(None, "--production-store", help="a store `collect` filled from "
                                                "production: the workload rules size tables with its statistics, "
                                                "and predict statements' times with its query-time model"),
    server: str | None = typer.Option(None, "--server", help="the production server's name in --production-store"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="text: undo SQL, baseline keys, rules not run"),
    list_rules: bool = typer.Option(False, "--list-rules", callback=_list_rules, is_eager=True,
                                    help="list the rules (id, kind, severity) and exit"),
) -> None:
    """The CI gate: run the rules against a test database and exit 1 when a finding is at or above --fail-on.

    Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or configuration error,
    3 could not run. Reads [check] of pgadvisor.toml / [tool.pgadvisor] in pyproject.toml (allow-list,
    thresholds, scope); flags beat the file. On GitHub Actions it also prints annotations and appends a
    Markdown summary to $GITHUB_STEP_SUMMARY.
    """
    from pgadvisor.check.anchors import load_anchors
    from pgadvisor.check.config import check_config, config_path_for, validate_thresholds
    from pgadvisor.check.rules import registry
    from pgadvisor.check.run import run_check
    from pgadvisor.cli.models import _model_plugins

    try:
        found = _config(config)
        known = {rid: r.thresholds for rid, r in registry().items()}
        flags = _thresholds(threshold)
        validate_thresholds(flags, known)
        conf = check_config(found, known).with_flags(
            fail_on=fail_on.value if fail_on else None, include=rule, exclude=exclude, schemas=schema,
            include_runtime=include_runtime, thresholds=flags)
        _writable(output)
        anchors = load_anchors(schema_file, migrations)
        base = baseline or (str(config_path_for(found, conf.baseline)) if conf.baseline else None)
        if server and not production_store:
            raise UsageError("--server names a server in --production-store: give --production-store too")
        result = run_check(_dsn(ctx, dsn, found), conf, anchors=anchors, baseline_path=base,
                           production_store=production_store, server=server,
                           model_plugins=_model_plugins() if production_store else None)
        _emit(render(result, fmt, verbose), output)
        _github(result, fmt)
    except PgAdvisorError as exc:
        _fail(exc)
    if output or fmt != CheckFormat.text:  # the report went elsewhere: the notes and the verdict on stderr
        sys.stderr.write("".join(f"note: {n}\n" for n in result.notes) + result.summary_line() + "\n")
    raise typer.Exit(result.exit_code)


@app.command()
def baseline(
    ctx: typer.Context,
    dsn: str = DsnCheckOpt,
    config: str | None = ConfigOpt,
    output: str | None = OutputOpt,
    include_runtime: bool | None = RuntimeOpt,
    fmt: BaselineFormat = typer.Option(BaselineFormat.json, "--format", "-f", help="the baseline file's format "
                                       "(a versioned JSON document: the only one)"),
) -> None:
    """Write today's findings as a baseline (stdout or --output): `check --baseline FILE` then fails only on
    new findings. Allowed findings (the allow-list) are left out."""
    import json

    from pgadvisor.check.baseline import baseline_document
    from pgadvisor.check.config import check_config
    from pgadvisor.check.rules import registry
    from pgadvisor.check.run import run_check

    try:
        found = _config(config)
        known = {rid: r.thresholds for rid, r in registry().items()}
        conf = check_config(found, known).with_flags(include_runtime=include_runtime)
        _writable(output)
        result = run_check(_dsn(ctx, dsn, found), conf)
        rows = [{"key": f.key, "rule": f.rule, "severity": str(f.rec.severity), "title": f.title}
                for f in result.findings if f.status == "new"]
        doc = baseline_document(result.database, result.server_version, rows, result.statements)
        _emit(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", output)
    except PgAdvisorError as exc:
        _fail(exc)
    sys.stderr.write(f"baseline: {len(rows)} findings of {result.database}"
                     + (f" written to {output}\n" if output else "\n"))
    if result.by_status("failed"):
        raise typer.Exit(3)
