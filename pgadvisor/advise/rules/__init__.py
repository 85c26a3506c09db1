"""The rules: one module per rule id, whose docstring is the rule's documentation.

`ALL` maps each stable kebab-case id to its `Rule`; `CATALOG` lists, in the order they run, the rules
that read only a schema snapshot (`pgadvisor.advise.drops.recommend_drops` runs them, and `check`
will). `create-index` is the workload index advisor's (`pgadvisor.advise.indexes`): it needs a
database to cost statements, so it has no `find` here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from pgadvisor.advise.rules import (
    create_index,
    drop_duplicate_index,
    drop_invalid_index,
    drop_redundant_index,
    drop_unused_index,
    fk_without_index,
)
from pgadvisor.advise.rules.common import CatalogScan
from pgadvisor.findings import Recommendation, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    module: ModuleType
    default_severity: Severity
    find: Callable[[CatalogScan], list[Recommendation]] | None  # None: produced by the index advisor

    @property
    def doc(self) -> str:
        """The rule's documentation (its module's docstring)."""
        return inspect.getdoc(self.module) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]


def _rule(module: ModuleType) -> Rule:
    return Rule(module.ID, module, module.DEFAULT_SEVERITY, getattr(module, "find", None))


# invalid first: an invalid index is only that; an exact copy is a duplicate before it is a prefix or
# unused (one finding per index: the first rule that flags it)
CATALOG: tuple[Rule, ...] = tuple(
    _rule(m)
    for m in (drop_invalid_index, drop_duplicate_index, drop_redundant_index, drop_unused_index, fk_without_index)
)
ALL: dict[str, Rule] = {r.id: r for r in (_rule(create_index), *CATALOG)}
