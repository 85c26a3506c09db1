"""JUnit XML for `check`, valid against Apache Ant's JUnit schema (tests/schemas/JUnit.xsd).

One `<testsuite>` per rule; in it one `<testcase>` per finding with one `<failure>` (type = the level),
or one passing `<testcase>` named after the rule when it found nothing. Ant's schema allows one failure
per testcase, so a rule with several findings is a suite of testcases rather than one testcase with
several failures. Allowed and baseline findings are `<skipped>` (with why), a skipped rule is one
`<skipped>` testcase, a rule that failed one `<error>`.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from pgadvisor.check.result import CheckResult, Finding, RuleRun

PACKAGE = "pgadvisor.check"


def _case(suite: ET.Element, name: str, classname: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", name=name, classname=classname, time="0")


def _finding_case(suite: ET.Element, f: Finding) -> str:
    case = _case(suite, f.key, f"{PACKAGE}.{f.rule}")
    if f.status == "allowed" and f.allowed_by:
        ET.SubElement(case, "skipped", message=f"allowed: {f.allowed_by.reason}")
        return "skipped"
    if f.status == "baseline":
        ET.SubElement(case, "skipped", message="in the baseline")
        return "skipped"
    failure = ET.SubElement(case, "failure", message=f.title, type=f.level)
    where = f"\nat {f.anchor[0]}:{f.anchor[1]}" if f.anchor else ""
    failure.text = f"{f.message}\nfix: {f.rec.sql}\nundo: {f.rec.rollback_sql}{where}"
    return "failure"


def _suite(root: ET.Element, i: int, run: RuleRun, findings: list[Finding], stamp: str, host: str) -> None:
    suite = ET.SubElement(root, "testsuite", name=run.id, package=PACKAGE, id=str(i), timestamp=stamp,
                          hostname=host)
    props = ET.SubElement(suite, "properties")
    for name, value in (("kind", run.kind), ("severity", run.severity), ("status", run.status)):
        ET.SubElement(props, "property", name=name, value=value)
    counts = {"failure": 0, "skipped": 0, "error": 0}
    if run.status == "ran" and findings:
        for f in findings:
            counts[_finding_case(suite, f)] += 1
    else:
        case = _case(suite, run.id, f"{PACKAGE}.{run.id}")
        if run.status in ("skipped", "off"):
            ET.SubElement(case, "skipped", message=run.reason or run.status)
            counts["skipped"] += 1
        elif run.status == "failed":
            ET.SubElement(case, "error", message=run.reason, type="RuleError")
            counts["error"] += 1
    ET.SubElement(suite, "system-out").text = run.summary
    ET.SubElement(suite, "system-err")
    suite.set("tests", str(max(1, len(findings)) if run.status == "ran" else 1))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", "0")


def junit(result: CheckResult, include_off: bool = False) -> str:
    """The `<testsuites>` document (rules not in scope only with `include_off`)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    host = result.database or "database"
    root = ET.Element("testsuites")
    by_rule: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    runs = [r for r in result.rules if include_off or r.status != "off"]
    for i, run in enumerate(runs):
        _suite(root, i, run, by_rule.get(run.id, []), stamp, host)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
