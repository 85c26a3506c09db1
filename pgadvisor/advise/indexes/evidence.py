"""Stage 5: what the run says. The chosen indexes as recommendations with their evidence (the statements
they serve, before and after, the writers they slow), the rule-based ones hypopg cannot cost, and the
reason every other screened-in candidate was left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgadvisor.advise.indexes.candidates import Candidate
from pgadvisor.advise.indexes.evaluate import ByTable, Evaluator, by_table_of, eff, without
from pgadvisor.advise.indexes.runtime import Run
from pgadvisor.advise.indexes.search import Result
from pgadvisor.advise.indexes.statements import Stmt
from pgadvisor.advise.rules import create_index, severity
from pgadvisor.advise.schema import index_name, lengthens, prefix_of
from pgadvisor.findings import Recommendation, Rejected
from pgadvisor.indexdef import IndexDef

# confidence in a recommendation, by what its benefit rests on (chosen by hand, not measured): hypopg's
# costs of the statements as they run; of generic plans (a parameterized statement's custom plans may
# differ); statistics without hypopg; a rule that no plan checked
CONFIDENCE_HYPOPG = 0.9
CONFIDENCE_GENERIC_PLANS = 0.8
CONFIDENCE_HEURISTIC = 0.4
CONFIDENCE_RULE = 0.3
# how much of a statement's text its evidence shows
QUERY_CHARS = 300


@dataclass
class _Served:
    """What a chosen index does for the statements it serves, next to the other chosen indexes."""

    stmts: list[Stmt]
    after: dict[str, float]  # statement → its cost with every chosen index
    before: dict[str, float]  # statement → its cost with the others only
    ms_per_day: float

    @property
    def w_before(self) -> float:
        return sum(q.weight * self.before[q.key] for q in self.stmts)

    @property
    def w_after(self) -> float:
        return sum(q.weight * self.after[q.key] for q in self.stmts)

    @property
    def reduction(self) -> float:
        w_before = self.w_before
        return 100.0 * (1 - self.w_after / w_before) if w_before > 0 else 0.0


class Evidence:
    """Recommendations and rejections for one run; `window_days` converts the window's gain to ms a day."""

    def __init__(self, run: Run, ev: Evaluator, window_days: float):
        self.run = run
        self.ev = ev
        self.window_days = window_days

    def recommendations(self, config: list[IndexDef], cands: dict[IndexDef, Candidate]) -> list[Recommendation]:
        """One recommendation per chosen index, by its label."""
        recs = []
        taken = set(self.run.view.index_names)
        verified = "hypopg" if self.ev.engine.mode == "hypopg" else "heuristic"
        grouped = by_table_of(config)
        for d in sorted(config, key=lambda x: x.label()):
            s = self._served(d, grouped)
            w_before, w_after, reduction = s.w_before, s.w_after, s.reduction
            calls = sum(q.weight for q in s.stmts) or 1.0
            name = index_name(d, taken)
            taken.add((d.schema, name))
            size = self.ev.size(d) or 0
            rest = [x for x in grouped[d.table_key] if x != d]  # (only d's table matters to its write overhead)
            wpct = self.ev.writes.pct(d.table_key, d, rest)
            slows = self.slowed([*rest, d], before=rest)
            cand = cands.get(d)
            kind = cand.kind if cand else ("single" if d.width == 1 else "multi")
            param = any(q.parameterized for q in s.stmts)
            if verified == "hypopg":
                confidence = CONFIDENCE_GENERIC_PLANS if param else CONFIDENCE_HYPOPG
            else:
                confidence = CONFIDENCE_HEURISTIC
            recs.append(
                create_index.recommendation(
                    d,
                    name,
                    severity=severity.create_index(s.ms_per_day, reduction),
                    title=f"Index {d.label(qualify=False)} for {_n(len(s.stmts), 'statement')}",
                    benefit={
                        "ms_per_day": round(s.ms_per_day, 1),
                        "cost_before": round(w_before / calls, 2),
                        "cost_after": round(w_after / calls, 2),
                        "reduction_pct": round(reduction, 1),
                        "cost_saved": round(w_before - w_after, 2),
                    },
                    cost={"size_bytes": int(size), "write_overhead_pct": round(wpct, 2)},
                    confidence=confidence,
                    verified=verified,
                    evidence={
                        "statements": [
                            statement_evidence(q, s.after[q.key])
                            for q in sorted(s.stmts, key=lambda q: -q.weight * q.base)
                        ],
                        "slows": slows,
                        "why": self._why(d, kind, s, wpct, slows, param, verified),
                        "kind": kind,
                        "index": {"schema": d.schema, "table": d.table, "name": name, "method": d.method},
                    },
                )
            )
        return recs

    def _served(self, d: IndexDef, grouped: ByTable) -> _Served:
        """The statements whose plan uses `d` next to the other chosen indexes and costs less for it."""
        ev = self.ev
        affected = ev.relevant(d)
        with_all = {q.key: ev.plan(q, grouped) for q in affected}
        before = ev.costs_under(without(grouped, d), affected)
        after = {q.key: eff(q, with_all[q.key]) for q in affected}
        served = [q for q in affected if d in with_all[q.key].used and after[q.key] < before[q.key]]
        ms_per_day = 0.0
        for q in served:
            if before[q.key] > 0:
                saved = max(0.0, 1 - after[q.key] / before[q.key])
                ms_per_day += q.stats.mean_exec_ms * q.stats.calls / self.window_days * saved
        return _Served(served, after, before, ms_per_day)

    def _why(self, d: IndexDef, kind: str, s: _Served, wpct: float, slows: list[dict[str, Any]], param: bool,
             verified: str) -> str:
        why = (
            f"{kind} index; the planner uses it for {len(s.stmts)} statement(s) and their estimated cost "
            "falls by "
            f"{s.reduction:.1f}% ({s.w_before:.0f} → {s.w_after:.0f} cost units × calls)"
        )
        if wpct:
            why += f"; write overhead on {d.table}: +{wpct:.1f}%"
        if slows:
            top = slows[0]
            why += (f"; slows {_n(len(slows), 'writing statement')}, the most `{top['query'][:60]}` by about "
                    f"{top['slowdown_pct']:.0f}% per call with the table's new indexes ({top['why']})")
        if param:
            why += "; costs are from generic plans of parameterized statements"
        wider = prefix_of(d, self.run.view.indexes.get(d.table_key, []))
        if wider is not None:
            why += f"; a narrower version of {wider.qualified_name}, which the planner costs lower"
        if verified == "heuristic":
            why += f"; estimated from statistics without hypopg ({self.ev.engine.reason})"
        return why

    def rule_recommendations(self, rules: list[Candidate], config: list[IndexDef]) -> list[Recommendation]:
        """The rule-based candidates (GIN, BRIN without hypopg support) within the budget and cap left."""
        recs = []
        opts, rejected = self.run.options, self.run.rejected
        budget, cap = opts.budget_bytes, opts.max_indexes
        taken = set(self.run.view.index_names)
        used_bytes = sum(self.ev.size(d) or 0 for d in config)
        count = len(config)
        by_key = {q.key: q for q in self.ev.stmts}
        grouped = by_table_of(config)
        for c in sorted(rules, key=lambda c: c.id):
            d = c.index
            served = [by_key[k] for k in sorted(c.statements) if k in by_key]
            hosts = {q.key: self._chosen_serving(q, grouped, d.table_key) for q in served}
            if served and all(hosts.values()):
                names = sorted({h.label() for h in hosts.values() if h is not None})
                rejected[c.id] = Rejected(
                    c.id, d.table_key,
                    f"not verified (hypopg cannot cost a {d.method.upper()} index) and the verified "
                    f"{'index' if len(names) == 1 else 'indexes'} {', '.join(names)} already serve its statements",
                    {"served_by": names, "statements": [q.key for q in served]},
                )
                continue
            size = self.ev.engine.estimate_size(d)
            if cap is not None and count >= cap:
                rejected[c.id] = Rejected(c.id, d.table_key, f"max-indexes cap ({cap}) reached")
                continue
            if budget is not None and used_bytes + size > budget:
                rejected[c.id] = Rejected(
                    c.id, d.table_key, "over budget", {"size_bytes": size, "left_bytes": budget - used_bytes}
                )
                continue
            count += 1
            used_bytes += size
            partly = sorted({h.label() for h in hosts.values() if h is not None})
            recs.append(self._rule_recommendation(c, served, size, config, taken, partly))
        return recs

    def _chosen_serving(self, q: Stmt, grouped: ByTable, table_key: str) -> IndexDef | None:
        """The chosen (verified) index on `table_key` that the planner uses for `q` and that lowers its cost."""
        if not grouped.get(table_key):
            return None
        plan = self.ev.plan(q, grouped)
        if eff(q, plan) >= q.base:
            return None
        return next((d for d in sorted(plan.used, key=lambda x: x.label()) if d.table_key == table_key), None)

    def _rule_recommendation(self, c: Candidate, served: list[Stmt], size: int, config: list[IndexDef],
                             taken: set[tuple[str, str]], partly: list[str] | None = None) -> Recommendation:
        d = c.index
        name = index_name(d, taken)
        taken.add((d.schema, name))
        before = sum(q.weight * q.base for q in served)
        why = (
            c.why
            + ("; " + f"requires {c.requires}" if c.requires else "")
            + "; proposed by rule, not verified: hypopg cannot simulate this index type, so the planner has not "
            "costed it and the benefit is not measured (ranked below the verified recommendations; build it on "
            "a copy and compare the plans first)"
            + (f"; some of its statements are already served by the verified {', '.join(partly)}" if partly else "")
        )
        return create_index.recommendation(
            d,
            name,
            id=c.id,
            severity=severity.create_index_by_rule(before),
            title=f"{d.method.upper()} index {d.label(qualify=False)} for {len(served)} statement"
            f"{'s' if len(served) != 1 else ''} (rule)",
            benefit={
                "ms_per_day": None,
                "cost_before": round(before / max(1.0, sum(q.weight for q in served)), 2),
                "cost_after": None,
                "reduction_pct": None,
                "cost_saved": None,
            },
            cost={
                "size_bytes": int(size),
                "write_overhead_pct": round(self.ev.writes.pct(d.table_key, d, config), 2),
            },
            confidence=CONFIDENCE_RULE,
            verified="rule",
            evidence={
                "statements": [statement_evidence(q, None) for q in served],
                "why": why,
                "kind": c.kind,
                "requires": c.requires,
                "index": {"schema": d.schema, "table": d.table, "name": name, "method": d.method},
            },
        )

    def reject_rest(self, pool: list[Candidate], best: Result, solo: dict[IndexDef, float]) -> None:
        """The reason each screened-in candidate is not in the result (from the search's last evaluation;
        `solo`: screening's gain of each alone, for those the search never evaluated)."""
        chosen = set(best.config)
        used_bytes = sum(self.ev.size(d) or 0 for d in best.config)
        grouped = by_table_of(best.config)
        for c in pool:
            d = c.index
            if d in chosen or c.id in self.run.rejected:
                continue
            if d in best.pruned:
                by = ", ".join(x.label() for x in best.pruned[d]) or "the other chosen indexes"
                self.run.rejected[c.id] = Rejected(c.id, d.table_key, f"made redundant by {by}")
                continue
            read_gain, write_delta = best.values.get(d, (solo.get(d, 0.0), 0.0))
            self.run.rejected[c.id] = self._rejection(c, best, grouped, used_bytes, read_gain, write_delta)

    def _rejection(self, c: Candidate, best: Result, grouped: ByTable, used_bytes: int, read_gain: float,
                   write_delta: float) -> Rejected:
        """Why a candidate the search saw is not chosen, first reason first."""
        ev, opts = self.ev, self.run.options
        d = c.index
        size = ev.size(d) or 0
        wider = [x for x in grouped.get(d.table_key, ()) if lengthens(x, d)]
        detail = {"size_bytes": size, "read_benefit": round(read_gain, 2), "write_cost": round(write_delta, 2)}
        slow = ev.slows(d, grouped.get(d.table_key, ()))
        if wider:
            reason = f"made redundant by {wider[0].label()} (its keys start with these)"
        elif slow is not None:
            reason = slow
        elif read_gain <= 1e-9 * max(1.0, best.read_cost):
            users = {x for q in ev.relevant(d) for x in ev.plan(q, grouped).used}
            by = sorted(users, key=lambda x: x.label())
            reason = f"made redundant by {', '.join(x.label() for x in by)}" if by else "no plan gains from it"
        elif read_gain - write_delta <= 0:
            reason = "write overhead outweighs its read benefit"
        elif opts.max_indexes is not None and len(best.config) >= opts.max_indexes:
            reason = f"max-indexes cap ({opts.max_indexes}) reached"
        elif opts.budget_bytes is not None and used_bytes + size > opts.budget_bytes:
            reason = "over budget"
            detail["left_bytes"] = opts.budget_bytes - used_bytes
        else:
            reason = "benefit below the minimum improvement, or less benefit per byte than the chosen indexes"
        return Rejected(c.id, d.table_key, reason, detail)

    def slowed(self, config: list[IndexDef], before: list[IndexDef] | None = None) -> list[dict[str, Any]]:
        """The writing statements `config` slows down (estimated % per call), slowest first; with `before`
        (a part of `config`), also how much of it is the rest of `config`'s doing (`this_index_pct`)."""
        out = []
        writes, by_key = self.ev.writes, self.ev.ws.by_key
        for table_key, new in by_table_of(config).items():
            prior = writes.slowdowns(table_key, before) if before is not None else {}
            for key, (pct, why) in writes.slowdowns(table_key, new).items():
                item = {**statement_evidence(by_key[key], None, cost=False), "slowdown_pct": round(pct, 1)}
                if before is not None:
                    item["this_index_pct"] = round(pct - prior.get(key, (0.0, ""))[0], 1)
                out.append({**item, "why": why})
        return sorted(out, key=lambda x: -x["slowdown_pct"])


def statement_evidence(q: Stmt, cost_after: float | None, cost: bool = True) -> dict[str, Any]:
    """One served statement in a recommendation's evidence (cost_after None: not verified)."""
    out = {"queryid": q.stats.queryid, "calls": q.stats.calls, "mean_ms": round(q.stats.mean_exec_ms, 3)}
    if cost:
        out.update(cost_before=round(q.base, 2), cost_after=None if cost_after is None else round(cost_after, 2))
    out["query"] = " ".join(q.ps.text.split())[:QUERY_CHARS]
    return out


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"

