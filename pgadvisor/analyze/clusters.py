"""Clusters of templates: by behaviour (what one call does) and by arrival pattern (when calls come).

- `behaviour_clusters(X)`: the rows of `features.behaviour_matrix` (orders of magnitude on every axis, so not
  rescaled: standardising divided each axis by its spread in this window and blew near-constant ones — a few
  bytes of WAL, temp in 3 of 31 templates — up into the main axes), clustered top-down: KMeans splits a
  cluster in two when the split's silhouette is >= SPLIT_SILHOUETTE and both halves keep at least
  MIN_CLUSTER_TEMPLATES templates, until no cluster splits or there are MAX_K. One global k by the best
  silhouette stops at the coarsest split (OLTP vs the rest: reporting and analytics stayed one cluster in
  bench_classes); asking the same question inside each cluster finds the finer classes. HDBSCAN (density)
  runs beside it and is reported; its labels are used where density fits and KMeans' do not: no split
  passed, yet HDBSCAN finds >= 2 clusters, leaves at most MAX_NOISE_SHARE of the templates as noise and
  scores a silhouette >= SPLIT_SILHOUETTE with each noise template counted as a cluster of its own (0, as
  Rousseeuw 1987 scores a singleton; leaving noise out would flatter it). A global silhouette is not the
  judge between the two: it prefers the coarsest split, which is what the top-down split corrects.
- `arrival_clusters(series)`: QueryBot5000's online clustering (Ma et al., SIGMOD 2018, §5): each
  template's arrival-rate series joins the cluster whose centre is most similar by cosine similarity when
  that similarity is >= ARRIVAL_RHO, else starts a new cluster; centres are the mean of their members'
  normalised series; a second pass re-assigns every template to its best centre. Two changes, both
  measured in bench_classes: the series are mean-centred first, and steady (Poisson-flat) templates are one
  cluster. Templates with fewer than MIN_ARRIVAL_CALLS calls are left out (label -1): their series is noise.
- `profiles(labels, figures, ...)`: per cluster its templates, calls, time share, mean time, rows, cache
  hit, temp, WAL, read/write mix, hot tables and the classes of its members.

Data in, data out; nothing here prints.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from pgadvisor.analyze.features import Figures

MAX_K = 8  # more behaviour clusters than this is not a summary a reviewer reads
MIN_CLUSTER_TEMPLATES = 4  # fewer templates than this: one cluster, no clustering (nor a split into one)
# Kaufman & Rousseeuw, "Finding Groups in Data" (1990), ch. 2, the reading of the average silhouette width:
# 0.51–0.70 "a reasonable structure has been found", 0.26–0.50 "weak and could be artificial"
SPLIT_SILHOUETTE = 0.5
MAX_NOISE_SHARE = 0.2
ARRIVAL_RHO = 0.8  # QueryBot5000's similarity threshold (ρ = 0.8 in the paper's evaluation)
MIN_ARRIVAL_CALLS = 10
# Poisson counts have variance = mean; a constant-rate template stays under 1.5× that (a daily cycle of
# amplitude 0.3 at 50 calls/hour gives ~3×)
STEADY_DISPERSION = 1.5
ABSORB_RHO = 0.5  # a lone noisy template joins a cluster it correlates with at least this much
SEED = 0  # KMeans' random_state: the same store gives the same clusters


def behaviour_clusters(X: np.ndarray) -> dict[str, Any]:
    """Cluster labels (one per row of X, -1: HDBSCAN's noise) and how they were chosen: method, k, silhouette,
    the top-down splits tried (templates, silhouette, smaller half, split or not) and HDBSCAN's summary."""

    n = len(X)
    if n < MIN_CLUSTER_TEMPLATES:
        return {"labels": [0] * n, "method": "none", "k": 1 if n else 0,
                "why": f"{n} templates: clustering needs at least {MIN_CLUSTER_TEMPLATES}"}
    import sklearn.cluster  # noqa: F401 - loaded before the limit: threadpoolctl limits the OpenMP it sees loaded
    from threadpoolctl import threadpool_limits

    # on a shared machine OpenMP threads fight over the cores: KMeans on 1,000 × 6 took 7.8 s with the
    # default threads and 0.12 s with one (bench_workload_cost)
    with threadpool_limits(1):
        return _behaviour_clusters(X, n)


def _behaviour_clusters(X: np.ndarray, n: int) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import silhouette_score

    X = np.asarray(X, dtype=float)
    if len(np.unique(X.round(9), axis=0)) < 2:
        return {"labels": [0] * n, "method": "none", "k": 1, "why": "all templates have the same features"}
    labels, splits = _split_top_down(X)
    k = len(set(labels.tolist()))
    score = float(silhouette_score(X, labels)) if k > 1 else None
    out: dict[str, Any] = {"labels": labels.tolist(), "method": "kmeans", "k": k,
                           "silhouette": None if score is None else round(score, 4), "splits": splits}
    if k == 1:
        out["why"] = f"no split of the templates has a silhouette >= {SPLIT_SILHOUETTE:g}: one kind of work"
    density = _hdbscan(X, n)
    if density is not None:
        out["hdbscan"] = density["summary"]
        if k == 1 and density["silhouette"] >= SPLIT_SILHOUETTE and density["noise"] <= MAX_NOISE_SHARE:
            out.update(labels=density["labels"], method="hdbscan", k=density["summary"]["clusters"],
                       silhouette=density["summary"]["silhouette"])
    return out


def _split_top_down(X: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Divisive KMeans (see the module doc): labels and, per cluster tried, its size and split silhouette."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    labels = np.zeros(len(X), dtype=int)
    queue, splits = [0], []
    while queue and labels.max() + 1 < MAX_K:
        c = queue.pop(0)
        idx = np.where(labels == c)[0]
        if len(idx) < 2 * MIN_CLUSTER_TEMPLATES or len(np.unique(X[idx].round(9), axis=0)) < 2:
            continue
        halves = KMeans(n_clusters=2, n_init=10, random_state=SEED).fit_predict(X[idx])
        smaller = int(np.bincount(halves, minlength=2).min())
        score = float(silhouette_score(X[idx], halves)) if smaller else -1.0
        split = smaller >= MIN_CLUSTER_TEMPLATES and score >= SPLIT_SILHOUETTE
        splits.append({"templates": len(idx), "silhouette": round(score, 4), "smaller_half": smaller,
                       "split": split})
        if split:
            new = int(labels.max()) + 1
            labels[idx[halves == 1]] = new
            queue += [c, new]
    return labels, splits


def _hdbscan(X: np.ndarray, n: int) -> dict[str, Any] | None:
    """HDBSCAN's labels, noise share and silhouette (each noise template a singleton); None when it finds
    under 2 clusters."""
    import numpy as np
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import silhouette_score

    density = HDBSCAN(min_cluster_size=max(MIN_CLUSTER_TEMPLATES, n // 50), copy=True).fit_predict(X)
    core = density >= 0
    found = len(set(density[core].tolist()))
    if found < 2 or core.sum() <= found:
        return None
    noise = 1 - float(core.mean())
    singletons = np.where(core, density, density.max() + 1 + np.arange(n))
    score = float(silhouette_score(X, singletons)) if len(set(singletons.tolist())) < n else 0.0
    return {"labels": density.tolist(), "noise": noise, "silhouette": score,
            "summary": {"clusters": found, "noise_share": round(noise, 4), "silhouette": round(score, 4)}}


def arrival_clusters(series: np.ndarray, hourly: np.ndarray | None = None, rho: float = ARRIVAL_RHO) -> dict[str, Any]:
    """Labels for the rows of `series` (templates × intervals, NaN gaps read as 0; `hourly`: the same
    summed per hour, when the intervals are shorter); -1 for too few calls.

    Steady templates (variance <= STEADY_DISPERSION × mean at both resolutions: Poisson noise around a
    constant rate) form one cluster of their own. The others are compared by the cosine similarity of their
    mean-centred series (Pearson correlation: raw rates are all positive, so their cosine is high whatever
    their shape), the higher of the two resolutions (per interval: a job at :15 every hour; per hour: a
    day cycle of a low-volume template, whose per-interval noise hides it), in QueryBot5000's online pass;
    a template left alone after it joins the best cluster of several members when its similarity to that
    centre is >= ABSORB_RHO.
    """
    import numpy as np

    views = [np.nan_to_num(np.asarray(series, dtype=float), nan=0.0)]
    if hourly is not None:
        views.append(np.nan_to_num(np.asarray(hourly, dtype=float), nan=0.0))
    n = len(views[0])
    labels = np.full(n, -1, dtype=int)
    totals = views[0].sum(axis=1) if n else np.zeros(0)
    keep = np.where(totals >= MIN_ARRIVAL_CALLS)[0]
    out = {"rho": rho, "left_out": int(n - len(keep)), "steady": 0}
    if len(keep) == 0:
        return out | {"labels": labels.tolist(), "clusters": 0}
    steady = np.ones(len(keep), dtype=bool)
    for V in views:
        steady &= V[keep].var(axis=1) <= STEADY_DISPERSION * np.maximum(V[keep].mean(axis=1), 1e-9)
    shaped = keep[~steady]
    groups: list[list[int]] = [keep[steady].tolist()] if steady.any() else []
    if len(shaped):
        units = []
        for V in views:
            C = V[shaped] - V[shaped].mean(axis=1, keepdims=True)
            norms = np.linalg.norm(C, axis=1, keepdims=True)
            units.append(C / np.where(norms > 0, norms, 1.0))
        groups += [[int(shaped[i]) for i in g] for g in _online(units, totals[shaped], rho)]
    groups.sort(key=lambda g: -totals[g].sum())
    for k, g in enumerate(groups):
        labels[g] = k
    return out | {"labels": labels.tolist(), "clusters": len(groups), "steady": int(steady.sum())}


def _online(units: list[np.ndarray], volume: np.ndarray, rho: float) -> list[list[int]]:
    """QueryBot5000's online clustering of unit rows (busiest first; the similarity is the highest over the
    views in `units`), a re-assignment pass, and the absorption of single templates; lists of row indexes."""
    import numpy as np

    sums: list[list[np.ndarray]] = []  # per cluster, per view: the sum of its members' unit rows
    for i in np.argsort(-volume, kind="stable"):
        sims = [max(float(c[v] @ U[i]) / (np.linalg.norm(c[v]) or 1.0) for v, U in enumerate(units)) for c in sums]
        j = int(np.argmax(sims)) if sims else -1
        if j >= 0 and sims[j] >= rho:
            sums[j] = [c + U[i] for c, U in zip(sums[j], units)]
        else:
            sums.append([U[i].copy() for U in units])
    sim = np.max([U @ np.array([c[v] / (np.linalg.norm(c[v]) or 1.0) for c in sums]).T
                  for v, U in enumerate(units)], axis=0)
    assigned = np.argmax(sim, axis=1)
    sizes = np.bincount(assigned, minlength=len(sums))
    big = np.where(sizes > 1)[0]
    for i in np.where(sizes[assigned] == 1)[0]:
        if len(big):
            j = big[int(np.argmax(sim[i, big]))]
            if sim[i, j] >= ABSORB_RHO:
                assigned[i] = j
    return [np.where(assigned == c)[0].tolist() for c in sorted(set(assigned.tolist()))]


def profiles(labels: list[int], figures: list[Figures], classes: list[dict[str, Any]] | None = None,
             series: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One profile per cluster label (noise -1 last), busiest first by execution time."""
    from pgadvisor.analyze.features import hot_objects, read_write_mix

    total_ms = sum(f.total_ms for f in figures) or 1.0
    out = []
    for label in sorted(set(labels), key=lambda c: (c < 0, -sum(f.total_ms for f, x in zip(figures, labels)
                                                                  if x == c))):
        idx = [i for i, x in enumerate(labels) if x == label]
        members = [figures[i] for i in idx]
        calls = sum(f.calls for f in members)
        ms = sum(f.total_ms for f in members)
        hit = sum(f.shared_hit for f in members)
        blocks = hit + sum(f.shared_read for f in members)
        profile: dict[str, Any] = {
            "label": label, "templates": [f.id for f in members], "size": len(members), "calls": calls,
            "total_exec_ms": round(ms, 3), "time_share": round(ms / total_ms, 5),
            "mean_exec_ms": round(ms / calls, 4) if calls else 0.0,
            "rows_per_call": round(sum(f.rows for f in members) / calls, 3) if calls else 0.0,
            "cache_hit_ratio": round(hit / blocks, 5) if blocks else None,
            "temp_blocks": int(sum(f.temp_blocks for f in members)),
            "wal_bytes": int(sum(f.wal_bytes for f in members)),
            **read_write_mix(members),
            "hot_tables": [t["name"] for t in hot_objects(members, top=3)["tables"]],
        }
        if classes is not None:
            for key in ("type", "weight", "arrival"):
                profile[key] = dict(Counter(classes[i][key] for i in idx).most_common())
        if series is not None and len(idx):
            import numpy as np

            profile["calls_series"] = np.nansum(np.asarray(series, dtype=float)[idx], axis=0).tolist()
        out.append(profile)
    return out
