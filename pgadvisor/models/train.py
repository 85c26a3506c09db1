"""Training from the store, the held-out evaluation, versions in the store, and the retrain trigger."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pgadvisor import __version__
from pgadvisor.errors import CannotRun, UsageError, one_line
from pgadvisor.models import persist
from pgadvisor.models.evaluate import compare, held_out_split, summary
from pgadvisor.models.features import feature_columns, training_frame
from pgadvisor.models.plugin_model import PREFIX, PluginModel
from pgadvisor.models.query_time import COVERAGE, KINDS, QueryTimeModel, q_error

if TYPE_CHECKING:
    from pgadvisor.store.api import Store

# Training needs at least this many (statement, interval) rows and distinct plans: a 20% held-out set of
# 40 rows is 8 rows, the fewest that give a median and a p95 worth printing; fewer than 5 plans cannot
# teach anything a single cost factor does not (pgadvisor's choice)
MIN_TRAIN_ROWS = 40
MIN_TRAIN_PLANS = 5
# The retrain trigger: new (statement, interval) rows since the model's window reached this share of the
# rows it was trained on, or its median q-error on them grew this many times its held-out median and by
# DRIFT_MIN_ABS at least (pgadvisor's choices: "a lot more data" and "clearly worse than it was")
RETRAIN_NEW_SHARE = 0.5
DRIFT_FACTOR = 1.25
DRIFT_MIN_ABS = 0.1
MIN_DRIFT_ROWS = 10


def check_enough(frame: Any) -> None:
    """CannotRun when the frame is too small to train on, saying how much is needed."""
    rows = len(frame)
    plans = frame["plan_hash"].nunique() if rows and "plan_hash" in frame.columns else rows
    if rows < MIN_TRAIN_ROWS or plans < MIN_TRAIN_PLANS:
        raise CannotRun(
            f"too few plans to train: {rows} timed (statement, interval) rows over {plans} distinct plans; "
            f"training needs at least {MIN_TRAIN_ROWS} rows and {MIN_TRAIN_PLANS} plans",
            hint="collect more snapshots (`pgadvisor collect --plans N` explains the top N statements each time), "
                 "or widen --since")


def train(store: Store, server: str, *, since: float | None = None, until: float | None = None,
          kind: str = "xgboost", plugins: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train on the server's window: evaluate on held-out rows beside B0/B1/B2, refit on all rows, store
    the model as a new version (only once it reads back). Returns the evaluation and the version.
    `kind` is one of KINDS or the name of a model plugin in `plugins` (name → class)."""
    plugins = plugins or {}
    if kind not in KINDS and kind not in plugins:
        raise UsageError(f"--model: one of {', '.join(KINDS + tuple(sorted(plugins)))}, not {kind!r}")
    t0 = time.monotonic()
    frame = training_frame(store, server, since, until)
    check_enough(frame)
    train_rows, test_rows, how = held_out_split(frame)
    if kind in KINDS:
        evaluation = compare(QueryTimeModel(kind).fit(train_rows), train_rows, test_rows)
        model = QueryTimeModel(kind).fit(frame)
        body = persist.dump(model)
        persist.load(body)  # a model that does not read back is never stored
        interval = model.interval_
        radii = {"seen_statements": model.support_.radius_seen, "new_statements": model.support_.radius_new}
        fallback = {"name": model.fallback_name(), "model_weight": model.blend_}
    else:
        evaluation, body = _train_plugin(kind, plugins[kind], frame, train_rows, test_rows)
        kind, interval, radii, fallback = PREFIX + kind, None, None, None
    evaluation["held_out"] = how
    window = _window(store, server, frame)
    meta = {
        "features": feature_columns(frame), "training_window": {"start": window[0], "end": window[1],
                                                                "since": since, "until": until},
        "rows": len(frame), "plans": int(frame["plan_hash"].nunique()), "statements": int(frame["statement"].nunique()),
        "metrics": evaluation, "libraries": persist.library_versions(), "pgadvisor": __version__,
        "last_seq": int(frame["seq"].max()), "interval_log": interval, "coverage": COVERAGE,
        "support_radius": radii, "fallback": fallback, "train_s": round(time.monotonic() - t0, 2),
    }
    version = store.save_model(server=server, kind=kind, fmt=persist.FORMAT, pgadvisor_version=__version__,
                               body=body, metadata=meta, window=window, n_rows=len(frame))
    return {"model_version": version, "kind": kind, "server": server, **meta}


def _train_plugin(name: str, cls: Any, frame: Any, train_rows: Any, test_rows: Any) -> tuple[dict[str, Any], bytes]:
    """(held-out evaluation, bytes) of a model plugin; CannotRun with one line when the plugin raises."""
    try:
        evaluation = compare(PluginModel(name, cls).fit(train_rows), train_rows, test_rows)  # type: ignore[arg-type]
        body = PluginModel(name, cls).fit(frame).save()
        PluginModel.load(name, cls, body).predict_log(frame)  # it must read back
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is one line, never a traceback
        raise CannotRun(f"model plugin {name} raised {exc.__class__.__name__}: {one_line(exc)}") from None
    return evaluation, body


def _window(store: Store, server: str, frame: Any) -> tuple[float | None, float | None]:
    """Epoch seconds of the first and last interval end the frame holds."""
    sid = store.server_id(server)
    lo, hi = int(frame["seq"].min()), int(frame["seq"].max())
    rows = store.query("SELECT min(taken_at), max(taken_at) FROM snapshots WHERE server_id = ? AND seq BETWEEN ? "
                       "AND ?", (sid, lo, hi))
    return rows[0][0], rows[0][1]


def model_record(store: Store, server: str | None, version: int | None) -> dict[str, Any]:
    """The stored model to use: `version`, else the newest this pgadvisor can read for `server` (or any
    server); a newer pgadvisor's models are passed over, never half-read. CannotRun when there is none."""
    records = store.list_models(server)
    if version is not None:
        for r in records:
            if r["version"] == version:
                return r
        raise CannotRun(f"no model version {version} in the store"
                        + (f" for server {server!r}" if server else ""), hint="`pgadvisor models` lists them")
    usable = [r for r in records if r["format"] <= persist.FORMAT]
    if not usable:
        newer = f" ({len(records)} written by a newer pgadvisor)" if records else ""
        raise CannotRun("no query-time model in the store" + (f" for server {server!r}" if server else "") + newer,
                        hint="run `pgadvisor train` first")
    return usable[0]


def load_model(store: Store, server: str | None = None, version: int | None = None,
               plugins: dict[str, Any] | None = None) -> tuple[QueryTimeModel | PluginModel, dict[str, Any]]:
    """(model, its record); persist.ModelError (exit 3) when the selected one is damaged or too new, or is a
    plugin model whose plugin (`plugins`: name → class) is not installed."""
    record = model_record(store, server, version)
    if record["format"] > persist.FORMAT:
        raise persist.ModelError(f"model v{record['version']} was written by a newer pgadvisor "
                                 f"({record['pgadvisor_version']}, model format {record['format']}; this version "
                                 f"reads up to {persist.FORMAT})", hint="upgrade pgadvisor, or select an older "
                                 "model with --model-version")
    stored = store.model_body(record["version"])
    if stored is None:
        raise CannotRun(f"model version {record['version']} went away while reading it")
    if record["kind"].startswith(PREFIX):
        return _load_plugin(record, stored, plugins or {}), record
    return persist.load(stored[0], stored[1], record["version"]), record


def _load_plugin(record: dict[str, Any], stored: tuple[bytes, str], plugins: dict[str, Any]) -> PluginModel:
    import hashlib

    name, version = record["kind"][len(PREFIX):], record["version"]
    if name not in plugins:
        raise persist.ModelError(f"model v{version} is the plugin model {name!r}, and that plugin is not installed "
                                 "(or does not load: see `pgadvisor plugins`)",
                                 hint="install it, or select another model with --model-version")
    if hashlib.sha256(stored[0]).hexdigest() != stored[1]:
        raise persist.ModelError(f"model v{version} is damaged (its bytes do not match their checksum)",
                                 hint="select an older one with --model-version, or run `pgadvisor train` again")
    try:
        return PluginModel.load(name, plugins[name], stored[0])
    except Exception as exc:  # noqa: BLE001
        raise persist.ModelError(f"model plugin {name} could not load model v{version}: "
                                 f"{exc.__class__.__name__}: {one_line(exc)}") from None


def retrain_reason(store: Store, server: str) -> str | None:
    """Why the server's newest model should be retrained (None: it is current): no model yet, enough new
    timed rows since its window, or accuracy drift measured on those new intervals."""
    try:
        model, record = load_model(store, server)
    except CannotRun:
        return "no model yet"
    except persist.ModelError as exc:
        return f"the newest model cannot be read ({exc})"
    meta = record["metadata"] or {}
    sid = store.server_id(server)
    new = training_frame(store, server, since=record["window_end"]) if sid is not None else None
    if new is None or new.empty:
        return None
    new = new[new["seq"] > int(meta.get("last_seq", -1))]
    if len(new) >= RETRAIN_NEW_SHARE * max(record["n_rows"], 1):
        return f"{len(new)} new timed rows since model v{record['version']} (trained on {record['n_rows']})"
    held = (meta.get("metrics") or {}).get("model", {}).get("median")
    if held and len(new) >= MIN_DRIFT_ROWS:
        now = summary(q_error(model.predict(new), new["ms"].to_numpy(float)))["median"]
        if now > max(held * DRIFT_FACTOR, held + DRIFT_MIN_ABS):
            return (f"accuracy drifted: median q-error {now:.2f} on {len(new)} new rows, "
                    f"{held:.2f} when model v{record['version']} was evaluated")
    return None
