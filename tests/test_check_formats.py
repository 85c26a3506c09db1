"""`check`'s report formats: SARIF 2.1.0 and JUnit XML validated against their official schemas
(tests/schemas/), GitHub annotations within GitHub's per-step limits, GitLab Code Quality, Markdown size."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pgadvisor.check.config import AllowEntry
from pgadvisor.check.result import CheckResult, Finding, RuleRun, level_of
from pgadvisor.findings import Recommendation

SCHEMAS = Path(__file__).parent / "schemas"


def rec(rule: str, obj: str, severity: str, column: str | None = None) -> Recommendation:
    key = f"{rule}:{obj}" + (f":{column}" if column else "")
    return Recommendation(id=key, rule=rule, severity=severity, title=f"{rule} on {obj}", target=obj,
                          sql=f"-- fix {obj}", rollback_sql=f"-- undo {obj}",
                          evidence={"why": "because, with a % and a\nnewline: and, commas"})


def result(n_error: int = 1, n_warning: int = 1, n_info: int = 1, baseline: bool = False) -> CheckResult:
    recs = ([rec("drop-invalid-index", f"public.ix_{i}", "high") for i in range(n_error)]
            + [rec("fk-without-index", f"public.t_{i}", "medium", "user_id") for i in range(n_warning)]
            + [rec("drop-duplicate-index", f"public.dup_{i}", "low") for i in range(n_info)])
    findings = [Finding(r, r.id, level_of(r.severity)) for r in recs]
    if findings:
        findings[0].anchor = ("db/schema.sql", 12)
    allowed = Finding(rec("fk-without-index", "public.audit", "medium", "user_id"),
                      "fk-without-index:public.audit:user_id", "warning", "allowed",
                      AllowEntry("fk-without-index:public.audit:*", "append-only", dt.date(2027, 1, 31)))
    known = Finding(rec("drop-duplicate-index", "public.old", "low"), "drop-duplicate-index:public.old", "info",
                    "baseline" if baseline else "new")
    runs = [RuleRun("drop-invalid-index", "static", "medium", "invalid index", "Doc of it.\n\nMore.", "ran",
                    findings=n_error),
            RuleRun("fk-without-index", "static", "low", "fk without index", "FK doc", "ran", findings=n_warning + 1),
            RuleRun("drop-duplicate-index", "static", "low", "duplicates", "dup doc", "ran", findings=n_info + 1),
            RuleRun("no-primary-key", "static", "medium", "no pk", "pk doc", "ran"),
            RuleRun("drop-unused-index", "runtime", "low", "unused", "", "off", "runtime rule"),
            RuleRun("new-statement", "workload", "medium", "new statements", "", "skipped",
                    "pg_stat_statements is not created; fix: CREATE EXTENSION pg_stat_statements"),
            RuleRun("broken-rule", "static", "low", "broken", "", "failed", "KeyError: 'x'")]
    return CheckResult("app_test", "15.4", "warning", runs, [*findings, allowed, known],
                       fixed=[{"key": "drop-duplicate-index:public.gone", "rule": "drop-duplicate-index"}],
                       notes=["pgadvisor.toml:9: allow-list entry 'x:y.z' matches no finding: remove it"],
                       baseline="b.json" if baseline else None)


def test_severity_maps_to_ci_levels():
    assert [level_of(s) for s in ("high", "medium", "low", "info")] == ["error", "warning", "info", "info"]


@pytest.mark.parametrize("baseline", [False, True])
def test_sarif_validates_against_the_sarif_2_1_0_schema(baseline):
    import jsonschema

    from pgadvisor.report.sarif import FINGERPRINT, sarif

    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    doc = json.loads(sarif(result(baseline=baseline)))
    jsonschema.Draft4Validator(schema).validate(doc)  # raises on any violation
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "drop-unused-index" not in rules and rules[0] == "drop-invalid-index"
    assert run["tool"]["driver"]["rules"][0]["fullDescription"]["text"] == "Doc of it.\n\nMore."
    first = run["results"][0]
    assert first["partialFingerprints"] == {FINGERPRINT: "drop-invalid-index:public.ix_0"}
    assert first["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "db/schema.sql"},
                                                         "region": {"startLine": 12}}
    assert first["level"] == "error" and rules[first["ruleIndex"]] == first["ruleId"]
    allowed = next(r for r in run["results"] if r["properties"]["status"] == "allowed")
    assert allowed["suppressions"][0]["justification"] == "append-only"
    states = {r["properties"]["key"]: r.get("baselineState") for r in run["results"]}
    assert states["drop-duplicate-index:public.old"] == ("unchanged" if baseline else None)
    assert not run["invocations"][0]["executionSuccessful"]  # broken-rule failed


def test_sarif_schema_rejects_a_broken_document():
    import jsonschema

    from pgadvisor.report.sarif import sarif

    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    doc = json.loads(sarif(result()))
    doc["runs"][0]["results"][0]["level"] = "fatal"  # the validation in the test above can fail
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(doc)


def test_junit_validates_against_ants_junit_schema():
    import xml.etree.ElementTree as ET

    import xmlschema

    from pgadvisor.report.junit import junit

    schema = xmlschema.XMLSchema(str(SCHEMAS / "JUnit.xsd"))
    text = junit(result(n_error=2, n_warning=3, n_info=0))
    schema.validate(text)
    root = ET.fromstring(text)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"drop-invalid-index", "fk-without-index", "drop-duplicate-index", "no-primary-key",
                           "new-statement", "broken-rule"}  # one suite per rule in scope
    fk = suites["fk-without-index"]
    assert fk.get("tests") == "4" and fk.get("failures") == "3" and fk.get("skipped") == "1"
    assert [c.get("name") for c in fk.findall("testcase")][:1] == ["fk-without-index:public.t_0:user_id"]
    assert all(len(c.findall("failure")) <= 1 for c in root.iter("testcase"))  # one failure per finding
    assert suites["no-primary-key"].find("testcase").get("name") == "no-primary-key"  # passed
    assert suites["new-statement"].find("testcase/skipped") is not None
    assert suites["broken-rule"].find("testcase/error").get("type") == "RuleError"
    broken = text.replace('failures="3"', 'failures="three"')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(broken)


def test_github_annotations_stay_within_githubs_limits():
    from pgadvisor.report.github import annotations

    lines = annotations(result(n_error=25, n_warning=3, n_info=12)).splitlines()
    errors = [x for x in lines if x.startswith("::error ")]
    notices = [x for x in lines if x.startswith("::notice ")]
    assert len(errors) == 10 and len([x for x in lines if x.startswith("::warning ")]) == 3
    assert len(notices) == 10  # 9 findings + the one that counts the rest
    # 15 errors and 13 - 9 = 4 info (12 + the baseline-less 'old') left out
    assert notices[-1].startswith("::notice title=pgadvisor::19 more findings are not annotated") and \
        "15 error, 4 info" in notices[-1]
    assert errors[0].startswith("::error file=db/schema.sql,line=12,title=pgadvisor drop-invalid-index%3A ")
    assert "%25 and a%0Anewline: and, commas" in errors[0]  # the message escaped, the title's , and : too
    assert lines[-1].startswith("pgadvisor check: ")
    few = annotations(result(n_error=1, n_warning=1, n_info=9)).splitlines()
    assert len([x for x in few if x.startswith("::notice ")]) == 10  # exactly 10: all shown, no count


def test_gitlab_code_quality_report():
    from pgadvisor.report.gitlab import gitlab

    issues = json.loads(gitlab(result(), "pgadvisor.toml"))
    assert len(issues) == 4  # the allowed finding is left out; new and baseline ones are in
    for issue in issues:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
    assert issues[0]["location"] == {"path": "db/schema.sql", "lines": {"begin": 12}}
    assert issues[1]["location"] == {"path": "pgadvisor.toml", "lines": {"begin": 1}}
    assert len({i["fingerprint"] for i in issues}) == 4


def test_markdown_fits_a_pr_comment():
    from pgadvisor.report.check_text import MARKDOWN_LIMIT, markdown

    md = markdown(result(n_error=3000, n_warning=0, n_info=0))
    assert len(md) <= MARKDOWN_LIMIT and "more finding(s): see the job's log" in md
    assert md.startswith("### pgadvisor check: ❌ failed")
    small = markdown(result())
    assert "| 🔴 error | drop-invalid-index on public.ix_0 (db/schema.sql:12) |" in small
    assert "1 allowed" in small and "skipped `new-statement`" in small


def test_text_report_and_document():
    from pgadvisor.report.check_text import text

    r = result()
    out = text(r, verbose=True)
    assert out.splitlines()[0] == "ERROR   drop-invalid-index:public.ix_0 (db/schema.sql:12)"
    assert "  fk-without-index:public.audit:user_id: append-only" in out
    assert "failed  broken-rule: KeyError: 'x'" in out and "off     drop-unused-index: runtime rule" in out
    assert out.splitlines()[-1] == r.summary_line()
    assert r.exit_code == 1
    doc = r.to_document()
    assert doc["schema"] == 1 and doc["kind"] == "pgadvisor-check" and doc["exit_code"] == 1
    assert r.summary_line().startswith("pgadvisor check: 4 rules run, 1 skipped (new-statement: pg_stat_statements "
                                       "is not created), 1 failed (broken-rule), 1 off; 4 findings: 1 error, "
                                       "1 warning, 2 info (+1 allowed, 1 fixed since the baseline)")
