"""`check`'s configuration: found walking up, [check] validated key by key with file:line errors, the
allow-list (reason mandatory, expiry), flags beat the file. No database needed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from pgadvisor.check.config import check_config, parse_threshold_flag, validate_thresholds
from pgadvisor.config import default_map, key_line, locate_config, read_config
from pgadvisor.errors import UsageError

KNOWN = {"drop-duplicate-index": {}, "fk-without-index": {}, "seq-near-overflow": {"used_pct": 75.0}}


def _conf(tmp_path, text: str, name: str = "pgadvisor.toml"):
    (tmp_path / name).write_text(text)
    return check_config(read_config(tmp_path / name), KNOWN)


def test_found_walking_up_from_a_subdirectory_and_pyproject_section(tmp_path):
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.pgadvisor]: go on up
    (tmp_path / "pgadvisor.toml").write_text('[check]\nfail_on = "error"\n')
    found = locate_config(deep)
    assert found.path == tmp_path / "pgadvisor.toml"
    assert check_config(found).fail_on == "error"
    (tmp_path / "a" / "b" / "pyproject.toml").write_text('[tool.pgadvisor.check]\nfail_on = "never"\n')
    found = locate_config(deep)  # the nearest one wins
    assert found.path == tmp_path / "a" / "b" / "pyproject.toml" and check_config(found).fail_on == "never"
    assert locate_config(tmp_path / "a").path == tmp_path / "pgadvisor.toml"


def test_other_commands_default_map_keeps_working_and_check_table_is_not_a_default_map(tmp_path):
    (tmp_path / "pgadvisor.toml").write_text('dsn = "dbname=x"\n[recommend]\nbudget = "1GB"\n[check]\n'
                                             'fail_on = "info"\n[[check.allow]]\nkey = "a:b.c"\nreason = "r"\n')
    dm = default_map(["recommend", "check", "baseline"], tmp_path)
    assert dm["recommend"] == {"dsn": "dbname=x", "budget": "1GB"}
    assert dm["check"] == {"dsn": "dbname=x"}  # [check] is check's own policy, validated by pgadvisor.check.config


def test_unknown_key_names_the_key_and_its_line(tmp_path):
    with pytest.raises(UsageError) as e:
        _conf(tmp_path, '# comment\n[check]\nfail_on = "warning"\nfial_on = "error"\n')
    assert f"{tmp_path / 'pgadvisor.toml'}:4: unknown key 'fial_on' in [check]" in str(e.value)


def test_bad_types_name_the_key_and_line(tmp_path):
    with pytest.raises(UsageError, match=r":3: \[check\] include must be an array, not str"):
        _conf(tmp_path, '[check]\nfail_on = "warning"\ninclude = "fk-without-index"\n')
    with pytest.raises(UsageError, match=r":2: \[check\] fail_on must be one of error, warning, info, never"):
        _conf(tmp_path, '[check]\nfail_on = "high"\n')
    with pytest.raises(UsageError, match=r":2: \[check\] skip_migration_tables must be true or false, not int 1"):
        _conf(tmp_path, '[check]\nskip_migration_tables = 1\n')
    with pytest.raises(UsageError, match=r":2: \[check\] exclude: unknown rule id 'no-such-rule'"):
        _conf(tmp_path, '[check]\nexclude = ["no-such-rule"]\n')
    with pytest.raises(UsageError, match=r":5: threshold seq-near-overflow.used_pct must be a number"):
        _conf(tmp_path, '[check]\nfail_on = "info"\n\n[check.thresholds.seq-near-overflow]\nused_pct = "75"\n')
    with pytest.raises(UsageError, match=r":2: seq-near-overflow has no threshold 'used' \(its thresholds: used_pct\)"):
        _conf(tmp_path, '[check.thresholds.seq-near-overflow]\nused = 75\n')
    with pytest.raises(UsageError, match=r":2: \[check.rows\] 'orders': name the table as schema.table"):
        _conf(tmp_path, '[check.rows]\norders = 5e6\n')


def test_pyproject_lines_are_those_of_the_tool_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.pgadvisor.check]\nfail_on = 3\n')
    with pytest.raises(UsageError, match=r"pyproject.toml:5: \[check\] fail_on must be a string"):
        check_config(locate_config(tmp_path), KNOWN)


def test_allow_list_entries(tmp_path):
    conf = _conf(tmp_path, '[check]\n\n[[check.allow]]\nkey = "fk-without-index:public.audit:user_id"\n'
                           'reason = "append-only"\nexpires = 2027-01-31\n\n'
                           '[[check.allow]]\nkey = "drop-duplicate-index:public.*"\nreason = "legacy"\n'
                           'expires = "2026-01-01"\n')
    a, b = conf.allow
    assert a.expires == dt.date(2027, 1, 31) and a.where.endswith("pgadvisor.toml:3") and a.reason == "append-only"
    assert b.expired(dt.date(2026, 6, 1)) and not a.expired(dt.date(2026, 6, 1))
    assert b.where.endswith(":8")


def test_allow_entry_without_reason_or_with_bad_fields(tmp_path):
    with pytest.raises(UsageError, match=r":4: \[\[check.allow\]\] 'fk-without-index:public.t:a' has no reason"):
        _conf(tmp_path, '[check]\nfail_on = "info"\n\n[[check.allow]]\nkey = "fk-without-index:public.t:a"\n')
    with pytest.raises(UsageError, match=r":1: \[\[check.allow\]\] .* has no reason"):
        _conf(tmp_path, '[[check.allow]]\nkey = "a:b.c"\nreason = "  "\n')
    with pytest.raises(UsageError, match=r":1: unknown key 'why' in \[\[check.allow\]\]"):
        _conf(tmp_path, '[[check.allow]]\nkey = "a:b.c"\nwhy = "x"\n')
    with pytest.raises(UsageError, match=r"expires must be a date"):
        _conf(tmp_path, '[[check.allow]]\nkey = "a:b.c"\nreason = "x"\nexpires = "next year"\n')
    with pytest.raises(UsageError, match=r"needs key = "):
        _conf(tmp_path, '[[check.allow]]\nkey = "no colon"\nreason = "x"\n')


def test_flags_beat_the_file(tmp_path):
    conf = _conf(tmp_path, '[check]\nfail_on = "info"\nexclude = ["fk-without-index"]\n'
                           '[check.thresholds.seq-near-overflow]\nused_pct = 60\n')
    assert conf.fail_on == "info" and conf.exclude == ("fk-without-index",)
    flagged = conf.with_flags(fail_on="error", exclude=None, include=[], thresholds=None)
    assert flagged.fail_on == "error" and flagged.exclude == ("fk-without-index",)  # not given: the file's
    assert conf.with_flags(thresholds={"seq-near-overflow": {"used_pct": 90.0}}).thresholds == \
        {"seq-near-overflow": {"used_pct": 90.0}}


def test_threshold_flags():
    assert parse_threshold_flag("seq-near-overflow.used_pct=80") == ("seq-near-overflow", "used_pct", 80.0)
    for bad in ("seq-near-overflow=80", "x.y=high", "noequals"):
        with pytest.raises(UsageError, match="RULE.NAME=NUMBER"):
            parse_threshold_flag(bad)
    with pytest.raises(UsageError, match="no threshold 'nope'"):
        validate_thresholds({"seq-near-overflow": {"nope": 1.0}}, KNOWN)
    with pytest.raises(UsageError, match="unknown rule id 'zzz'"):
        validate_thresholds({"zzz": {"a": 1.0}}, KNOWN)


def test_key_line_finds_keys_in_tables_and_headers():
    text = '[check]\nfail_on = "x"\n[check.thresholds."a-b"]\nn = 1\n'
    assert key_line(text, "check", "fail_on") == 2
    assert key_line(text, "check.thresholds.a-b", "n") == 4
    assert key_line(text, "check.thresholds.a-b") == 3
    assert key_line(text, "check", "n") is None


def test_cli_reports_config_errors_in_one_line_with_exit_2(tmp_path):
    (tmp_path / "pgadvisor.toml").write_text('[check]\nfail_on = "warning"\nfial_on = 1\n')
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "check", "--dsn", "host=/nonexistent"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60, env={**os.environ, "PGADVISOR_DSN": ""})
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines()[0] == f"error: {tmp_path / 'pgadvisor.toml'}:3: unknown key 'fial_on' in [check] " \
        "(known: allow, baseline, exclude, fail_on, include, include_runtime, rows, schemas, skip_migration_tables, " \
        "thresholds)"
    assert "Traceback" not in r.stderr
