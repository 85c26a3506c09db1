"""Workload-wide index advisor: which new indexes pay off for the whole workload, verified with hypopg.

The pipeline, one module per stage (`advisor.IndexAdvisor.run` reads top to bottom):

1. `statements`: skip what cannot be advised (our own, other databases, unparseable, utility, code of
   untrusted roles, missing tables) with the reason; parse the rest (`pgadvisor.sql.parse`); the
   baseline plan cost of every statement (generic plans for `$n` texts), weighted by its calls;
2. `candidates`: single, multi-column, covering, partial, expression indexes, and by rule GIN and BRIN;
3. `screen`: keep the candidates some plan gains from alone (`evaluate` holds the what-if costs);
4. `search`: a greedy search that at each step takes the move with the best net benefit per byte
   (and, under a budget or a cap, a second run by net benefit): add a candidate or extend a chosen
   index by one column (Extend's move, Schlosser et al. 2019). Net benefit = Σ calls × cost saved −
   write overhead (`writes`: index maintenance, HOT updates lost). Evaluation is lazy (CELF). The same
   search restricted to Extend's own moves also runs, the cheapest configuration wins, and under a
   budget a swap pass improves it; so the result is never worse than Extend on the estimated cost.
   A final pass removes indexes whose removal does not raise the cost;
5. `evidence`: recommendations with evidence, and every rejected candidate with the reason.

`runtime` holds the clock (the time limit's deadlines) and the parallel what-if sessions, `options`
the caller's settings (AdvisorOptions), `stats` the run's statistics.
"""

from pgadvisor.advise.indexes.advisor import IndexAdvisor, recommend_indexes, whatif_single
from pgadvisor.advise.indexes.options import AdvisorOptions

__all__ = ["AdvisorOptions", "IndexAdvisor", "recommend_indexes", "whatif_single"]
