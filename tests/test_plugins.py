"""Plugins through entry points: the example package in tests/plugin_example (installed here when missing)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from pgadvisor.models.synthetic import plan_table
from pgadvisor.plugins import check_model, discover, run_analyzer
from pgadvisor.workload import Workload

EXAMPLE = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="session")
def example_plugin():
    """The example plugin package, installed editable (.ci/install installs it too, so CI does not wait)."""
    try:
        metadata.distribution("pgadvisor-plugin-example")
        # an editable install whose source moved (another checkout) is registered but does not import
        installed = importlib.util.find_spec("pgadvisor_plugin_example") is not None
    except metadata.PackageNotFoundError:
        installed = False
    if not installed:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(EXAMPLE)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        # this process read the .pth files at start-up: make the fresh install importable here too
        sys.path.insert(0, str(EXAMPLE))
        importlib.invalidate_caches()
    return {p.name: p for p in discover()}


def test_discover_reports_each_plugin_and_its_failure(example_plugin):
    assert {"cost-factor", "broken-import", "statement-count", "raises"} <= set(example_plugin)
    assert example_plugin["cost-factor"].ok and example_plugin["cost-factor"].package == "pgadvisor-plugin-example"
    broken = example_plugin["broken-import"]
    assert not broken.ok and broken.error.startswith("failed to import: ImportError: this plugin module is broken")


def test_a_model_plugin_fits_predicts_saves_and_loads(example_plugin):
    frame = plan_table(40)
    assert check_model(example_plugin["cost-factor"], frame) is None
    model = example_plugin["cost-factor"].obj().fit(frame)
    assert len(model.predict(frame)) == len(frame) and model.factor_ > 0


def test_an_analyzer_runs_over_a_workload_and_one_that_raises_is_reported(example_plugin):
    w = Workload(server="app", window={}, coverage={}, statements=[])
    result, error = run_analyzer(example_plugin["statement-count"], w)
    assert error is None and result == [{"rule": "statement-count", "server": "app", "statements": 0}]
    result, error = run_analyzer(example_plugin["raises"], w)
    assert result is None and error == "raised RuntimeError: this analyzer fails on purpose"


def test_plugins_command_lists_them_and_never_fails_on_a_broken_one(example_plugin):
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "plugins", "--check", "--format", "json"],
                       capture_output=True, text=True, timeout=120, env=os.environ)
    assert r.returncode == 0, r.stderr
    rows = {p["name"]: p for p in json.loads(r.stdout)["plugins"]}
    assert rows["cost-factor"]["ok"] and rows["statement-count"]["ok"]
    assert not rows["raises"]["ok"] and "fails on purpose" in rows["raises"]["error"]
    assert not rows["broken-import"]["ok"] and rows["broken-import"]["group"] == "pgadvisor.models"
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "plugins"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ERROR failed to import" in r.stdout and "Traceback" not in r.stdout + r.stderr
