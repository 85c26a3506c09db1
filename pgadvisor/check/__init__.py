"""The CI gate: rules in scope, thresholds, allow-list, baseline → findings and an exit code (issue 11).

Returns data and never prints: `pgadvisor.report` renders a `CheckResult` in each format, the CLI wires
(`pgadvisor check`, `pgadvisor baseline`).
"""

from pgadvisor.check.config import CheckConfig, check_config
from pgadvisor.check.result import CheckResult, Finding, RuleRun, level_of
from pgadvisor.check.run import Inputs, evaluate, gather, run_check

__all__ = ["CheckConfig", "CheckResult", "Finding", "Inputs", "RuleRun", "check_config", "evaluate", "gather",
           "level_of", "run_check"]
