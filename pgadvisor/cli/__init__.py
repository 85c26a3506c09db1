"""Thin typer wiring: resolve options → call the library → render → exit code (DESIGN §1).

One module per group of commands; each registers its commands on the one `app` when imported here.
Heavy libraries (pandas, scikit-learn, xgboost, sqlglot) are imported inside commands only.
"""

from pgadvisor.cli import analyze, check, core, models, workload  # noqa: F401  (each registers its commands)
from pgadvisor.cli.app import app, main
from pgadvisor.errors import EXIT_USAGE

# `--help` lists the commands in the order a user meets them
_ORDER = ("demo", "doctor", "collect", "snapshots", "workload", "anomalies", "report", "recommend", "check",
          "baseline", "train", "predict", "models", "plugins", "prune")


def _position(command) -> int:
    name = command.name or command.callback.__name__
    return _ORDER.index(name) if name in _ORDER else len(_ORDER)


app.registered_commands.sort(key=_position)

__all__ = ["app", "main", "EXIT_USAGE"]
