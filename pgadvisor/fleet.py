"""Collect one or many servers into one store; one failing server does not stop the others."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pgadvisor.config import TOMLDecodeError, load_toml
from pgadvisor.errors import EXIT_CANNOT_RUN, EXIT_USAGE, PgAdvisorError, UsageError, one_line


def load_targets(path: str) -> list[dict[str, Any]]:
    """Read `[[targets]] name = "..", dsn = ".."`; a bad entry becomes an entry with an `error`."""
    try:
        doc = load_toml(path)
    except FileNotFoundError:
        raise UsageError(f"--targets: no such file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--targets: cannot read {path}: {exc}") from None
    except TOMLDecodeError as exc:
        raise UsageError(f"--targets: {path} is not valid TOML: {exc}") from None
    entries = doc.get("targets", doc.get("target"))
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"--targets: {path} has no [[targets]] entries (each needs name and dsn)")
    out, seen = [], set()
    for i, e in enumerate(entries, 1):
        name = e.get("name") if isinstance(e, dict) else None
        dsn = e.get("dsn") if isinstance(e, dict) else None
        label = name if isinstance(name, str) and name else f"entry #{i}"
        if not isinstance(name, str) or not name or not isinstance(dsn, str):
            out.append({"name": label, "error": f"targets entry #{i} needs a string 'name' and 'dsn'"})
        elif name in seen:  # before anything is collected: which of the two would the store's name mean?
            raise UsageError(f"--targets: duplicate target name {name!r} in {path} (entry #{i}); "
                             "every target needs its own name")
        else:
            seen.add(name)
            out.append({"name": name, "dsn": dsn, **({"log": e["log"]} if isinstance(e.get("log"), str) else {})})
    return out


# definitions that did not change are read again at most this often (the --schema-every default: an
# unchanged schema's fingerprint is one cheap query, its definitions the expensive part of a snapshot;
# pgadvisor's choice, commit 75145ef)
SCHEMA_EVERY_S = 3600.0
DEFAULT_PARALLEL = 4  # servers collected at once (pgadvisor's choice, not measured; the --parallel default)


def collect_one(target: dict[str, Any], store, plans_top: int, log: str | None = None,
                schema_every_s: float = SCHEMA_EVERY_S, log_values: bool = True) -> dict[str, Any]:
    from pgadvisor.collect import collect
    from pgadvisor.pg.connect import describe

    server = target.get("name") or describe(target.get("dsn", ""))
    if target.get("error"):
        return {"server": server, "status": "failed", "error": target["error"], "exit_code": EXIT_USAGE}
    try:
        fingerprint, read_at = store.schema_state(server)
        fresh = read_at is not None and time.time() - read_at < schema_every_s
        snap = collect(target["dsn"], server, plans_top=plans_top, known_schema=fingerprint if fresh else None,
                       trusted_roles=tuple(target.get("trusted_roles", ())))
        log = target.get("log", log)
        if log:
            snap = with_log_samples(snap, log, store.log_offsets(server), log_values)
        result = store.save_snapshot(snap)
        result["samples"] = len(snap.samples)
        result.setdefault("server", server)
        result["collect_ms"] = round(snap.duration_ms, 1)
        return result
    except PgAdvisorError as exc:
        return {"server": server, "status": "failed", "error": str(exc), "hint": exc.hint,
                "exit_code": exc.exit_code}
    except Exception as exc:  # noqa: BLE001 - one server's surprise must not stop the others
        from pgadvisor.pg.connect import scrub

        return {"server": server, "status": "failed", "exit_code": EXIT_CANNOT_RUN,
                "error": scrub(f"{exc.__class__.__name__}: {one_line(str(exc))}", target.get("dsn"))}


def with_log_samples(snap, log: str, offsets: dict[str, int], values: bool = True):
    """The snapshot plus the statement samples logged since the last collect (see pg/logs.py);
    `values=False` drops the bind parameters' values (else stored to cost custom plans)."""
    from dataclasses import replace

    from pgadvisor.pg.logs import exists, read_samples

    if not exists(log):
        raise UsageError(f"--log: no such file or directory: {log}")
    samples, new_offsets = read_samples(log, offsets)
    if not values:
        samples = [replace(s, values=()) for s in samples]
    return replace(snap, samples=samples, log_offsets=new_offsets)


def collect_many(targets: list[dict[str, Any]], store_location: str | None, *, plans_top: int,
                 parallel: int = DEFAULT_PARALLEL, log: str | None = None,
                 schema_every_s: float = SCHEMA_EVERY_S, log_values: bool = True) -> list[dict[str, Any]]:
    """Snapshot every target (at most `parallel` at once) into the store; results in target order."""
    from pgadvisor.store import open_store

    with open_store(store_location) as store:
        if len(targets) == 1:
            return [collect_one(targets[0], store, plans_top, log, schema_every_s, log_values)]
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets)))) as pool:
            return list(pool.map(lambda t: collect_one(t, store, plans_top, None, schema_every_s, log_values), targets))
