"""`pgadvisor train`, `predict`, `models` and `plugins`: the query-time model (issue 13)."""

from __future__ import annotations

import typer

from pgadvisor.cli.app import DsnOpt, Format, FormatOpt, StoreOpt, TrustOpt, _duration, _fail, app
from pgadvisor.documents import document
from pgadvisor.errors import PgAdvisorError, UsageError

ServerOpt = typer.Option(None, "--server", help="server name in the store (see `pgadvisor snapshots`)")
# "model, as predict": gated without knowing the statement (a text), i.e. with the smaller support radius
METHODS = (("model", "model (gated)"), ("model_unknown_statement", "model, as predict"),
           ("model_ungated", "model, no gate"), ("B0", "B0 own recent mean"),
           ("B1", "B1 cost × factor"), ("B2", "B2 log-log cost"))


def _model_plugins() -> dict:
    """The model plugins that load, by name (one that does not is left out: `pgadvisor plugins` says why)."""
    from pgadvisor.plugins import discover

    return {p.name: p.obj for p in discover(("pgadvisor.models",)) if p.ok}


def _qline(name: str, s: dict) -> str:
    if not s:
        return f"  {name:22} -"
    return f"  {name:22} {s['median']:>8.2f} {s['p95']:>8.2f} {s['p99']:>8.2f}"


@app.command()
def train(
    store: str | None = StoreOpt,
    server: str | None = ServerOpt,
    since: str = typer.Option("30d", "--since", help="train on this window back from now, e.g. 7d, 30d"),
    model: str = typer.Option("xgboost", "--model", help="xgboost (default), forest (scikit-learn random forest), "
                              "gbm (scikit-learn gradient boosting), or the name of a model plugin "
                              "(see `pgadvisor plugins`)"),
    if_needed: bool = typer.Option(False, "--if-needed", help="train only when no model exists, enough new timed "
                                   "intervals arrived since the newest one, or its accuracy drifted on them "
                                   "(for cron)"),
    fmt: Format = FormatOpt,
) -> None:
    """Train the query-time model on the store's plans and measured mean times; print its held-out
    evaluation beside the baselines (q-error) and store it as a new model version."""
    import time

    from pgadvisor.models.query_time import KINDS
    from pgadvisor.models.train import retrain_reason
    from pgadvisor.models.train import train as run_train
    from pgadvisor.report.render import console, print_json
    from pgadvisor.store import open_store
    from pgadvisor.workload import pick_server

    try:
        seconds = _duration(since, "--since")
        with open_store(store) as st:
            name = pick_server(st, server)
            reason = retrain_reason(st, name) if if_needed else "asked"
            if reason is None:
                latest = st.list_models(name)[0]
                if fmt == Format.json:
                    print_json(document(trained=False, model_version=latest["version"], reason=None))
                else:
                    console.print(f"model v{latest['version']} is current: no retrain needed")
                return
            result = run_train(st, name, since=time.time() - seconds, kind=model,
                               plugins=None if model in KINDS else _model_plugins())
    except PgAdvisorError as exc:
        _fail(exc)
    result["reason"] = reason
    if fmt == Format.json:
        print_json(document(trained=True, **result))
        return
    m = result["metrics"]
    console.print(f"model v{result['model_version']} ({result['kind']}) for {result['server']}: {result['rows']} "
                  f"timed rows, {result['plans']} plans, {result['statements']} statements, {result['train_s']} s"
                  + (f" — {reason}" if if_needed else ""))
    console.print(f"held out: {m['rows']} rows ({m['held_out']}); in support {m['in_support']:.0%}; "
                  f"B0 had the statement's own history for {m['b0_coverage']:.0%} (else B1)")
    console.print(f"  {'q-error':22} {'median':>8} {'p95':>8} {'p99':>8}")
    for key, label in METHODS:
        if key in m:  # a plugin's evaluation has no "as predict" row
            console.print(_qline(label, m[key]))
    if result.get("support_radius"):
        r = result["support_radius"]
        console.print(f"support radius: {r['seen_statements']:.3g} for the statements seen, "
                      f"{r['new_statements']:.3g} for new ones (`predict` on a text uses the smaller)")
    if result.get("fallback"):
        console.print(f"out of support: {result['fallback']['name']}")


@app.command()
def predict(
    statements: list[str] = typer.Argument(None, help="statements to predict (never executed: only planned)"),
    dsn: str = DsnOpt,
    store: str | None = StoreOpt,
    server: str | None = ServerOpt,
    file: str | None = typer.Option(None, "--file", help="a .sql file of statements separated by ';'"),
    model_version: int | None = typer.Option(None, "--model-version", help="use this stored model version "
                                             "(default: the newest for --server, see `pgadvisor models`)"),
    trust_role: list[str] = TrustOpt,
    fmt: Format = FormatOpt,
) -> None:
    """Predict statements' mean execution time from their plans on --dsn with the stored model: the time,
    a 90% interval, whether the plan is in the model's support (else the calibrated operator cost is used), and
    the features that moved the prediction most."""
    from pgadvisor.cli.core import _read_statements_file
    from pgadvisor.models.predict import plans_of, predict_plans
    from pgadvisor.models.train import load_model
    from pgadvisor.report.render import console, print_json
    from pgadvisor.store import open_store

    try:
        texts = list(statements or [])
        if file:
            texts += _read_statements_file(file)
        if not texts:
            raise UsageError("give a statement to predict, or --file")
        with open_store(store, read_only=True) as st:
            model, record = load_model(st, server, model_version, plugins=_model_plugins())
        plans = plans_of(dsn, texts, tuple(trust_role or ()))
        results = predict_plans(model, plans, texts, record["version"])
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == Format.json:
        print_json(document(model_version=record["version"], model_kind=record["kind"], predictions=results))
        return
    for r in results:
        lo, hi = r["interval_ms"]
        console.print(f"{r['predicted_ms']:.3f} ms (90% interval {lo:.3f}–{hi:.3f} ms), model v{r['model_version']}"
                      + ("" if r["in_support"] else f", OUT OF SUPPORT: {r['fallback']} used"))
        console.print(f"  {r['statement'][:100]}", soft_wrap=True)
        for why in r["out_of_support_reasons"]:
            console.print(f"  - {why}")
        for c in r["contributions"]:
            console.print(f"  {c['feature']:32} = {c['value']:<10g} ×{c['factor']:.3f}")


@app.command("models")
def models_list(store: str | None = StoreOpt, server: str | None = ServerOpt, fmt: Format = FormatOpt) -> None:
    """The query-time models in the store, newest first, with their held-out q-error."""
    from pgadvisor.report.render import console, print_json, ts
    from pgadvisor.store import open_store

    try:
        with open_store(store, read_only=True) as st:
            rows = st.list_models(server)
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == Format.json:
        print_json(document(models=rows))
        return
    if not rows:
        console.print("no models: run `pgadvisor train`")
    for r in rows:
        med = ((r["metadata"] or {}).get("metrics") or {}).get("model", {}).get("median", "?")
        console.print(f"v{r['version']}  {r['kind']:8} {r['server']}  {ts(r['created_at'])}  {r['n_rows']} rows  "
                      f"held-out median q-error {med}  (pgadvisor {r['pgadvisor_version']}, format {r['format']})")


@app.command()
def plugins(
    check: bool = typer.Option(False, "--check", help="also exercise each plugin: a model's fit, predict, save and "
                               "load on a small synthetic plan table; an analyzer over an empty workload"),
    fmt: Format = FormatOpt,
) -> None:
    """Installed plugins (entry points pgadvisor.models and pgadvisor.analyzers) and whether each loads;
    a broken plugin is reported, never fatal."""
    from pgadvisor.plugins import check_model, discover, run_analyzer
    from pgadvisor.report.render import console, print_json

    found = discover()
    rows = [p.to_dict() for p in found]
    if check:
        from pgadvisor.models.synthetic import plan_table

        frame = plan_table()
        from pgadvisor.workload import Workload

        empty = Workload(server="plugins --check", window={}, coverage={}, statements=[])
        for p, row in zip(found, rows):
            if not p.ok:
                continue
            row["error"] = check_model(p, frame) if p.group == "pgadvisor.models" else run_analyzer(p, empty)[1]
            row["ok"] = row["error"] is None
    if fmt == Format.json:
        print_json(document(plugins=rows))
        return
    if not rows:
        console.print("no plugins installed (entry points pgadvisor.models, pgadvisor.analyzers)")
    for r in rows:
        state = "ok" if r["ok"] else f"ERROR {r['error']}"
        console.print(f"{r['group']:20} {r['name']:20} {r['target']}  ({r['package']} {r['version']})  {state}",
                      soft_wrap=True)
