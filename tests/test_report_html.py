"""Issue 12: `pgadvisor report` — one self-contained HTML file, texts escaped, charts rendered in a real
headless browser (Debian's chromium), a screenshot saved; bad input."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgadvisor.report.html import script_json
from pgadvisor.store import open_store
from tests import synth

EVIL = "SELECT '</script><img src=x onerror=\"document.title=1\">' AS x, $1 /* <!-- & --> */"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _parts(k: int) -> dict:
    return {
        "database": [{"dbid": 5, "datname": "app", "numbackends": 5 + k % 3, "xact_commit": 1000 * k,
                      "blks_hit": 900 * k, "blks_read": 10 * k, "deadlocks": k // 40, "temp_bytes": 0,
                      "temp_files": 0, "stats_reset": 1.0}],
        "activity": {"activity": [{"state": "active", "wait_event_type": "", "n": 3, "longest_xact_s": 1.0}],
                     "locks": []},
        "relations": [{"schema": "public", "name": "t<b>1</b>", "total_bytes": 8192 * (100 + k), "n_live_tup": 1000 + k,
                       "n_dead_tup": 10}],
        "indexes": [{"schema": "public", "name": "i<i>x</i>", "table": "t<b>1</b>", "size_bytes": 8192 * 10,
                     "idx_scan": 0}],
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("rep") / "s.sqlite")
    rows = synth.statement_rows(12)
    rows[0]["query"] = EVIL
    rnd = random.Random(4)
    now = time.time()
    with open_store(path) as st:
        for k in range(80):
            synth.advance(rows, 0.8, rnd)
            if k >= 70:  # a regression of the first statement over the last 10 intervals
                rows[0]["calls"] += 30
                rows[0]["total_exec_time"] += 30 * 50.0
            st.save_snapshot(synth.snapshot("app", now - (80 - k) * 600, rows, parts=_parts(k)))
    return path


def _report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", "report", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def review(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "review.html"
    r = _report("--store", store, "--since", "1d", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr
    return out


def test_self_contained_and_escaped(review):
    text = review.read_text()
    assert text.count("<script") == 3  # the data, uPlot, the page's own script
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched: opens offline
    assert "<link" not in text and "default-src 'none'" in text
    assert "<img" not in text and "</script><img" not in text
    assert "&lt;/script&gt;&lt;img src=x onerror=" in text  # the statement text, shown literally
    assert "t&lt;b&gt;1&lt;/b&gt;" in text and "i&lt;i&gt;x&lt;/i&gt;" in text  # object names too
    for section in ("Workload over time", "Top templates", "Anomalies", "Recommendations", "Index usage",
                    "Table growth", "Forecast", "Clusters"):
        assert f">{section}" in text


def test_script_json_cannot_close_its_element():
    s = script_json({"q": "</script><!-- <script>alert(1)</script> & \u2028"})
    assert "<" not in s and ">" not in s and "&" not in s
    import json

    assert json.loads(s)["q"].startswith("</script>")


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is needed for the report's browser test (.ci/install installs it)")
        pytest.skip("no chromium here (apt-get install chromium)")
    return exe


def test_renders_in_a_headless_browser(review, tmp_path):
    exe = _chromium()
    base = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    url = review.as_uri()
    dom = subprocess.run([*base, "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True, text=True,
                         timeout=180).stdout
    assert 'data-errors="0"' in dom, re.findall(r'<div id="errors".*?</div>', dom, re.S)
    charts = int(re.search(r'data-charts="(\d+)"', dom).group(1))
    assert charts >= 3  # workload, server metrics, a template's series (and more)
    assert dom.count("<canvas") >= charts
    assert "<img" not in dom and "onerror=" in dom  # the hostile text is text, not an element
    assert "document.title=1" in dom and "<title>pgadvisor review: app</title>" in dom
    shot = tmp_path / "review.png"
    subprocess.run([*base, "--window-size=1280,2000", f"--screenshot={shot}", url], capture_output=True,
                   timeout=180)
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with charts, not a blank one


def test_bad_input(store, tmp_path):
    r = _report("--store", store, "--out", str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr
    one = str(tmp_path / "one.sqlite")
    with open_store(one) as st:
        st.save_snapshot(synth.snapshot("x", time.time() - 60, synth.statement_rows(2)))
    r = _report("--store", one, "--out", str(tmp_path / "r.html"))
    assert r.returncode == 2 and "at least two snapshots" in r.stderr


def test_recommendations_from_a_live_database(make_db, tmp_path):
    import psycopg

    from pgadvisor.collect import collect

    dsn = make_db(("pg_stat_statements", "hypopg"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders AS SELECT g AS id, g % 5000 AS customer_id, md5(g::text) AS note "
                     "FROM generate_series(1, 200000) g")
        conn.execute("ANALYZE orders")
    store = str(tmp_path / "s.sqlite")
    with open_store(store) as st:
        st.save_snapshot(collect(dsn, "live"))
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i in range(30):
                conn.execute("SELECT count(*) FROM orders WHERE customer_id = %s", (i,))
        st.save_snapshot(collect(dsn, "live"))
    out = tmp_path / "r.html"
    r = _report("--store", store, "--since", "1d", "--out", str(out), "--dsn", dsn)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "recommend (live database)" in text
    assert "CREATE INDEX" in text and "customer_id" in text  # the advisor's index, with its SQL
