"""Third-party models and analyzers registered through entry points (issue 13).

A package declares them in its pyproject:

    [project.entry-points."pgadvisor.models"]
    mymodel = "mypkg.model:MyModel"          # a class: fit(frame) -> self, predict(frame) -> ms per row,
                                             # save() -> bytes, classmethod load(bytes) -> model
    [project.entry-points."pgadvisor.analyzers"]
    myanalyzer = "mypkg.analyzer:analyze"    # a callable over a pgadvisor.workload.Workload -> list of dicts
                                             # (or an object with such an `analyze` method)

`frame` is the plan frame of pgadvisor.models.features (one row per plan, `ms` the measured mean time).
A plugin that fails to import, misses a method or raises is reported with its error, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgadvisor.errors import one_line

GROUPS = ("pgadvisor.models", "pgadvisor.analyzers")
MODEL_METHODS = ("fit", "predict", "save", "load")


@dataclass
class Plugin:
    """One registered entry point: what it names and whether it loads and has the interface."""

    group: str
    name: str
    target: str
    package: str | None = None
    version: str | None = None
    obj: Any = field(default=None, repr=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "name": self.name, "target": self.target, "package": self.package,
                "version": self.version, "ok": self.ok, "error": self.error}


def _failure(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {one_line(exc)}"


def interface_error(group: str, obj: Any) -> str | None:
    """What the loaded object misses of its group's interface, or None."""
    if group == "pgadvisor.models":
        missing = [m for m in MODEL_METHODS if not callable(getattr(obj, m, None))]
        return f"missing {', '.join(missing)} (a model plugin has fit/predict/save/load)" if missing else None
    if not callable(obj) and not callable(getattr(obj, "analyze", None)):
        return "neither callable nor with an analyze(workload) method"
    return None


def discover(groups: tuple[str, ...] = GROUPS) -> list[Plugin]:
    """Every entry point of `groups`, imported; an import failure is recorded on the plugin, not raised."""
    from importlib.metadata import entry_points

    out = []
    for group in groups:
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            p = Plugin(group, ep.name, ep.value, getattr(dist, "name", None), getattr(dist, "version", None))
            try:
                p.obj = ep.load()
            except BaseException as exc:  # noqa: BLE001 - an import may raise anything, SystemExit too
                p.error = f"failed to import: {_failure(exc)}"
            else:
                p.error = interface_error(group, p.obj)
            out.append(p)
    return out


def run_analyzer(plugin: Plugin, workload: Any) -> tuple[list[Any] | None, str | None]:
    """(results, None) of an analyzer plugin over `workload`, or (None, the error) when it raises."""
    if not plugin.ok:
        return None, plugin.error
    fn = plugin.obj if callable(plugin.obj) and not hasattr(plugin.obj, "analyze") else plugin.obj.analyze
    try:
        result = fn(workload)
        return list(result or []), None
    except BaseException as exc:  # noqa: BLE001 - a plugin's failure is reported, never fatal
        return None, f"raised {_failure(exc)}"


def check_model(plugin: Plugin, frame: Any) -> str | None:
    """Exercise a model plugin on `frame`: fit, predict, save, load and predict again; the error or None."""
    if not plugin.ok:
        return plugin.error
    try:
        model = plugin.obj().fit(frame)
        first = list(model.predict(frame))
        again = list(plugin.obj.load(model.save()).predict(frame))
    except BaseException as exc:  # noqa: BLE001
        return f"raised {_failure(exc)}"
    if len(first) != len(frame) or first != again:
        return "predict gave another answer after save/load, or not one time per row"
    return None
