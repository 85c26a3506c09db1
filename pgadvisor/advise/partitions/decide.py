"""The decision for one table, with its evidence: which layout, or "don't partition" and why.

Each statement's cost ratio (partitioned copy ÷ unpartitioned copy) is weighted by its estimated share
of the table's time at full size (calls × the target's cost of the literal statement): the weighted
ratio is the full-size weighted cost of a layout relative to the table as it is. A periodic DELETE by
a range of the time key alone becomes a DROP/DETACH of partitions under RANGE on that key
(`RETENTION_RATIO`). A layout is refused when:

- its weighted gain is under `MIN_GAIN` (10%);
- a statement with at least `TRAP_SHARE` (1%) of the table's time gets `TRAP_RATIO` (3×) costlier or
  more (the primary-key trap: a lookup by a key that is not the partition key probes every partition);
- it raises the weighted pages touched (the estimated buffers of the plans on the copies);
- a unique constraint or an incoming foreign key cannot include the partition key (a single-column
  key filled from a sequence or identity is widened to (key, partition key) instead, with a note).
The best layout that is not refused is recommended; the blocker of a better one is named.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.partitions.model import Candidate, StatementResult, TableAdvice

# issue 14's thresholds
MIN_GAIN = 0.10
TRAP_SHARE = 0.01
TRAP_RATIO = 3.0
# what a retention DELETE costs once it is a DROP/DETACH of whole partitions, relative to the DELETE
# (a catalog change instead of a scan and the dead tuples; chosen by hand, effectively "free")
RETENTION_RATIO = 0.01
_QUERY_CHARS = 200


def is_retention(res: StatementResult, cand: Candidate) -> bool:
    """A DELETE whose only filters are ranges on the RANGE key: dropping old partitions does its work."""
    spec = cand.spec
    p = res.stmt.parsed
    if spec is None or spec.strategy != "range" or p.kind != "delete" or not p.predicates:
        return False
    return all(x.kind == "range" and x.column.column == spec.column and not x.expression for x in p.predicates)


def ratio_of(res: StatementResult, cand: Candidate) -> float | None:
    if is_retention(res, cand):
        return RETENTION_RATIO
    return res.ratio(cand.label) if cand.spec is not None else 1.0


def weights(results: list[StatementResult]) -> tuple[dict[str, float], dict[str, float]]:
    """Per queryid: the weight of the ratio (calls × full-size cost) and the share of the table's time."""
    costed = [r for r in results if r.copies and r.full_cost is not None]
    w = {r.stmt.queryid: max(r.stmt.calls, 1.0) * max(r.full_cost or 0.0, 1e-6) for r in costed}
    ms = {r.stmt.queryid: r.stmt.total_ms for r in costed}
    total_ms = sum(ms.values())
    total_w = sum(w.values()) or 1.0
    share = {q: (ms[q] / total_ms if total_ms > 0 else w[q] / total_w) for q in w}
    return w, share


def weighted(results: list[StatementResult], cand: Candidate, w: dict[str, float], pages: bool = False) -> float:
    """Σ w·ratio / Σ w over the costed statements; `pages`: the pages touched, weighted by calls × the
    pages of each statement's plan on the target (a cheap lookup of many calls touches more pages than its
    cost share says)."""
    num = den = 0.0
    for r in results:
        if r.stmt.queryid not in w:
            continue
        weight = max(r.stmt.calls, 1.0) * max(r.full_pages, 1.0) if pages else w[r.stmt.queryid]
        if pages:
            base, mine = r.copies["none"].pages, r.copies.get(cand.label, r.copies["none"]).pages
            ratio = (mine / base) if base > 0 else 1.0
            if is_retention(r, cand):
                ratio = RETENTION_RATIO
        else:
            ratio = ratio_of(r, cand)
        if ratio is None:
            continue
        num += weight * ratio
        den += weight
    return num / den if den else 1.0


def blocker(profile: dict[str, Any], cand: Candidate) -> tuple[str | None, list[str]]:
    """The unique constraint or foreign key that cannot include the key (None), and notes on keys widened."""
    if cand.spec is None:
        return None, []
    key = cand.spec.column
    cols = {c["name"]: c for c in profile["columns"]}
    notes = []
    for fk in profile.get("fk_in", []):
        if key not in fk["columns"]:
            return (f"foreign key {fk['name']} of {fk['child']} references ({', '.join(fk['columns'])}), which "
                    f"cannot include the partition key {key}"), notes
    for u in profile.get("unique", []):
        if key in u["columns"]:
            continue
        one = u["columns"][0] if len(u["columns"]) == 1 else None
        if one and cols.get(one, {}).get("generated_key"):
            notes.append(f"{u['name']} ({one}) becomes ({one}, {key}): {one} comes from a sequence, so it stays "
                         "unique in practice, but the database no longer enforces it alone")
            continue
        kind = "primary key" if u["type"] == "p" else "unique constraint"
        return (f"{kind} {u['name']} ({', '.join(u['columns'])}) cannot include the partition key {key} "
                "without changing what it enforces"), notes
    return None, notes


def decide(table: str, profile: dict[str, Any], results: list[StatementResult], candidates: list[Candidate]
           ) -> TableAdvice:
    """The advice for one table (see the module's docstring)."""
    w, share = weights(results)
    advice = TableAdvice(table=table, decision="none", candidates=[c.label for c in candidates])
    if not w:
        advice.decision = "skipped"
        advice.why = "no statement of the table could be costed on the copies"
        advice.statements = [_evidence(r, None, w, share) for r in results]
        return advice
    scored = []
    for cand in candidates[1:]:
        ratio = weighted(results, cand, w)
        advice.weighted_ratio[cand.label] = ratio
        scored.append((ratio, cand, _refusal(profile, results, cand, ratio, w, share)))
    scored.sort(key=lambda x: x[0])
    ok = [(r, c, n) for r, c, (why, n) in scored if why is None]
    if ok:
        ratio, best, notes = ok[0]
        advice.decision, advice.chosen = "partition", best
        advice.notes += notes
        advice.why = (f"{best.label}: estimated weighted cost {1 - ratio:.0%} lower at full size "
                      f"({best.why})")
    if scored and (not ok or scored[0][1] is not ok[0][1]):
        ratio, cand, (why, _n) = scored[0]
        change = (f"cut the weighted cost by {1 - ratio:.0%}" if ratio < 1
                  else f"raise the weighted cost by {ratio - 1:.0%}")
        lost = f"{cand.label} would {change}, but {why}"
        if not ok:
            advice.blocker = why if why and "gain" not in why else None
            advice.why = f"don't partition: {lost}"
        else:
            advice.notes.append(lost)
    if not scored:
        advice.why = "don't partition: no candidate layout"
    advice.statements = [_evidence(r, advice.chosen, w, share) for r in results]
    return advice


def _refusal(profile: dict[str, Any], results: list[StatementResult], cand: Candidate, ratio: float,
             w: dict[str, float], share: dict[str, float]) -> tuple[str | None, list[str]]:
    """Why a layout may not be recommended (None) and its notes."""
    block, notes = blocker(profile, cand)
    if block:
        return block, notes
    for r in results:
        q = r.stmt.queryid
        rr = ratio_of(r, cand) if q in w else None
        if rr is not None and rr >= TRAP_RATIO and share.get(q, 0.0) >= TRAP_SHARE:
            return (f"statement {q} ({share[q]:.0%} of the table's time) gets {rr:.1f}× costlier "
                    f"(the primary-key trap: {_short(r.stmt.text)})"), notes
    if 1 - ratio < MIN_GAIN:
        return f"the weighted gain {1 - ratio:.1%} is under {MIN_GAIN:.0%}", notes
    pages = weighted(results, cand, w, pages=True)
    if pages > 1.0:
        return f"it raises the weighted pages touched by {pages - 1:.0%}", notes
    return None, notes


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:77] + "..."


def _evidence(r: StatementResult, chosen: Candidate | None, w: dict[str, float], share: dict[str, float]
              ) -> dict[str, Any]:
    s = r.stmt
    out: dict[str, Any] = {"queryid": s.queryid, "query": s.text[:_QUERY_CHARS], "calls": s.calls,
                           "share_of_time": round(share.get(s.queryid, 0.0), 4)}
    if r.skipped or s.queryid not in w:
        out["skipped"] = r.skipped or "not costed"
        return out
    base = r.copies["none"]
    out.update(full_cost=round(r.full_cost or 0.0, 2), literal=(r.literal or "")[:_QUERY_CHARS],
               ratios={k: round(v.cost / base.cost, 3) if base.cost > 0 else None for k, v in r.copies.items()})
    if chosen is not None:
        mine = r.copies.get(chosen.label)
        ratio = ratio_of(r, chosen)
        out.update(change_pct=round((ratio - 1) * 100, 1) if ratio is not None else None,
                   pages_before=round(base.pages), pages_after=round(mine.pages) if mine else None,
                   plan_ms_before=round(base.plan_ms, 3), plan_ms_after=round(mine.plan_ms, 3) if mine else None,
                   retention=is_retention(r, chosen))
    return out
