"""Predict statements' times: their plans come from the server through pgadvisor's guarded EXPLAIN path
(pg/explain.py: one statement, read-only, rolled back, never executed), then the stored model."""

from __future__ import annotations

from typing import Any

from pgadvisor.errors import CannotRun, one_line
from pgadvisor.models.features import flatten
from pgadvisor.models.plugin_model import PluginModel
from pgadvisor.models.query_time import QueryTimeModel


class PlanError(CannotRun):
    """A statement that does not parse or cannot be planned on the server (exit 3)."""


def plans_of(dsn: str, texts: list[str], trusted_roles: tuple[str, ...] = ()) -> list[Any]:
    """`EXPLAIN (FORMAT JSON)` of each text (a generic plan when it has $n parameters); PlanError with one
    line naming the statement when one is refused, does not parse or does not plan."""
    import psycopg

    from pgadvisor.pg import guard
    from pgadvisor.pg.connect import connect
    from pgadvisor.pg.explain import Refused, explain_casting

    out = []
    with connect(dsn) as conn:
        code = guard.load(conn, trusted_roles)
        for i, text in enumerate(texts, 1):
            where = f"statement {i}" if len(texts) > 1 else "the statement"
            try:
                out.append(explain_casting(conn, text, code))
            except Refused as exc:
                raise PlanError(f"{where} cannot be predicted: {exc}") from None
            except psycopg.Error as exc:
                raise PlanError(f"{where} does not plan: {one_line(exc, first_line=True)}") from None
    return out


def predict_plans(model: QueryTimeModel | PluginModel, plans: list[Any], texts: list[str], model_version: int
                  ) -> list[dict[str, Any]]:
    """One result per plan: predicted_ms, interval_ms, in_support (with reasons), contributions."""
    if isinstance(model, PluginModel):
        try:
            preds = model.explain_plans(plans)
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is one line
            raise CannotRun(f"model plugin {model.name} raised {exc.__class__.__name__}: {one_line(exc)}") from None
    else:
        preds = model.explain([flatten(plan) for plan in plans])
    out = []
    for text, p in zip(texts, preds):
        out.append({"statement": text, **p.to_dict(), "model_version": model_version})
    return out
