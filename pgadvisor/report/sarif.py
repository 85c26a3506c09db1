"""SARIF 2.1.0 for `check` (GitHub code scanning, GitLab, IDEs), valid against the OASIS schema
(tests/schemas/sarif-schema-2.1.0.json).

Each rule is a `reportingDescriptor` (stable `id` = the rule id; descriptions from the rule module's
docstring); each finding a `result` with `partialFingerprints` on its finding key (stable across runs
and line moves), a physical location on the CREATE line that defines the object when `--schema-file` or
`--migrations` was given, and a logical location (the object) always. Allowed findings carry an external
suppression with the allow-list's reason; with a baseline, `baselineState` is "new" or "unchanged".
"""

from __future__ import annotations

import json
from typing import Any

from pgadvisor import __version__
from pgadvisor.check.keys import parts
from pgadvisor.check.result import CheckResult, Finding, RuleRun

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SEVERITY_LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
FINGERPRINT = "pgadvisorFindingKey/v1"


def _descriptor(run: RuleRun) -> dict[str, Any]:
    doc = run.doc or run.summary or run.id
    return {
        "id": run.id,
        "name": "".join(p.capitalize() for p in run.id.split("-")),
        "shortDescription": {"text": run.summary or run.id},
        "fullDescription": {"text": doc},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": SEVERITY_LEVEL.get(run.severity, "warning")},
        "properties": {"tags": ["postgresql", run.kind], "kind": run.kind},
    }


def _result(f: Finding, index: int, with_baseline: bool) -> dict[str, Any]:
    _, obj, column = parts(f.key)
    location: dict[str, Any] = {"logicalLocations": [{"fullyQualifiedName": obj + (f".{column}" if column else ""),
                                                      "kind": "resource"}]}
    if f.anchor:
        location["physicalLocation"] = {"artifactLocation": {"uri": f.anchor[0]},
                                        "region": {"startLine": f.anchor[1]}}
    out: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": LEVEL[f.level],
        "message": {"text": f.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: f.key},
        "properties": {"key": f.key, "status": f.status, "fix": f.rec.sql, "undo": f.rec.rollback_sql},
    }
    if f.status == "allowed" and f.allowed_by:
        out["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.allowed_by.reason}]
    if with_baseline:
        out["baselineState"] = "unchanged" if f.status == "baseline" else "new"
    return out


def sarif(result: CheckResult) -> str:
    ran = [r for r in result.rules if r.status != "off"]
    index = {r.id: i for i, r in enumerate(ran)}
    results = [_result(f, index[f.rule], result.baseline is not None) for f in result.findings if f.rule in index]
    notes = [{"level": "warning" if r.status == "failed" else "note",
              "message": {"text": f"{r.id} {r.status}: {r.reason}"}}
             for r in result.rules if r.status in ("skipped", "failed")]
    doc = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pgadvisor", "version": __version__, "rules": [_descriptor(r) for r in ran]}},
            "invocations": [{"executionSuccessful": not result.by_status("failed"),
                             "exitCode": result.exit_code,
                             "toolExecutionNotifications": notes}],
            "results": results,
            "properties": {"database": result.database, "serverVersion": result.server_version,
                           "failOn": result.fail_on, "summary": result.summary_line()},
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
