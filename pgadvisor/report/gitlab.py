"""GitLab Code Quality report for `check` (a JSON array of CodeClimate-style issues: description,
check_name, fingerprint, severity, location.path, location.lines.begin)."""

from __future__ import annotations

import hashlib
import json

from pgadvisor.check.result import CheckResult

# GitLab's severities: info, minor, major, critical, blocker
SEVERITY = {"high": "critical", "medium": "major", "low": "minor", "info": "info"}


def gitlab(result: CheckResult, fallback_path: str = "pgadvisor.toml") -> str:
    """Every finding not allowed by the allow-list (new and baseline ones: GitLab itself compares a merge
    request's report with its target branch's). Without a defining file the issue is placed on
    `fallback_path` line 1 (GitLab needs a path)."""
    issues = []
    for f in result.findings:
        if f.status == "allowed":
            continue
        path, line = f.anchor or (fallback_path, 1)
        issues.append({
            "type": "issue",
            "description": f.message,
            "check_name": f.rule,
            "fingerprint": hashlib.sha256(f.key.encode()).hexdigest()[:32],
            "severity": SEVERITY[str(f.rec.severity)],
            "categories": ["Performance" if f.rule.startswith(("drop-", "fk-", "create-")) else "Style"],
            "location": {"path": path, "lines": {"begin": line}},
        })
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
