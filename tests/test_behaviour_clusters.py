"""Behaviour clusters (issue 12): planted OLTP, reporting and analytics templates are told apart, one kind of
work stays one cluster. No server: the figures are written here, at the sizes bench_classes measured on
pgbench, its reporting statements and TPC-H SF1 (docs/benchmarks.md, issue 12)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from pgadvisor.analyze import clusters
from pgadvisor.analyze.features import BEHAVIOUR_FEATURES, Figures, behaviour_matrix


def _fig(i: int, calls: int, mean_ms: float, pages: float, wal_per_call: float = 0.0, temp_per_call: float = 0.0,
         rows_per_call: float = 1.0, kind: str = "select") -> Figures:
    return Figures(id=f"t{i}", text=f"SELECT {i}", status="parsed", queryids=[str(i)], calls=calls,
                   total_ms=mean_ms * calls, time_share=0.0, rows=int(rows_per_call * calls),
                   shared_hit=pages * calls * 0.8, shared_read=pages * calls * 0.2,
                   temp_blocks=temp_per_call * calls, wal_bytes=wal_per_call * calls, kind=kind)


def _planted(seed: int) -> tuple[list[Figures], list[str]]:
    rng = np.random.default_rng(seed)
    figs, truth = [], []

    def add(label: str, fig: Figures) -> None:
        figs.append(fig)
        truth.append(label)

    for j in range(6):  # pgbench: 4-15 µs, 1-6 pages, 50k-500k calls; the writes log ~100 bytes of WAL each
        writes = j % 2 == 0
        add("OLTP", _fig(len(figs), int(10 ** rng.uniform(4.7, 5.7)), 10 ** rng.uniform(-2.4, -1.8),
                         rng.uniform(1, 6), wal_per_call=rng.uniform(70, 140) if writes else 0.0,
                         kind="update" if writes else "select"))
    for _ in range(6):  # dashboards: 20-800 ms, 2,500-7,000 pages, 20 runs, two of them spill
        add("reporting", _fig(len(figs), 20, 10 ** rng.uniform(1.3, 2.9), 10 ** rng.uniform(3.4, 3.85),
                              temp_per_call=rng.choice([0.0, 0.0, 6000.0]), rows_per_call=rng.uniform(1, 60)))
    for _ in range(10):  # TPC-H: 0.3-9 s, 30k-3M pages, 1-3 runs, rows per call from 1 to 18,000
        add("OLAP", _fig(len(figs), int(rng.integers(1, 4)), 10 ** rng.uniform(2.5, 3.9), 10 ** rng.uniform(4.5, 6.5),
                         temp_per_call=rng.choice([0.0, 0.0, 0.0, 2e5]), rows_per_call=10 ** rng.uniform(0, 4.2)))
    return figs, truth


def test_planted_oltp_reporting_and_analytics_are_three_clusters():
    exact = 0
    for seed in range(12):
        figs, truth = _planted(seed)
        X = behaviour_matrix(figs)
        assert X.shape == (len(figs), len(BEHAVIOUR_FEATURES))
        got = clusters.behaviour_clusters(X)
        assert got["method"] == "kmeans" and got["k"] in (3, 4), (seed, got["splits"])
        score = adjusted_rand_score(truth, got["labels"])
        exact += score == 1.0 and got["k"] == 3
        assert score >= 0.7, (seed, score)
        # OLTP is never mixed with the rest, and a few bytes of WAL per call do not split its writes from its
        # reads (standardising the features did)
        oltp = {lab for lab, t in zip(got["labels"], truth) if t == "OLTP"}
        assert len(oltp) == 1 and all(t == "OLTP" for lab, t in zip(got["labels"], truth) if lab in oltp)
        assert all(s["silhouette"] >= clusters.SPLIT_SILHOUETTE for s in got["splits"] if s["split"])
    # measured: 11 of 12 draws exact; in the 12th (seed 2) ten analytics templates spread over two orders of
    # magnitude split into cheaper and dearer ones (silhouette 0.62), ARI 0.74
    assert exact >= 10, exact


def test_one_kind_of_work_is_one_cluster():
    rng = np.random.default_rng(3)
    figs = [_fig(i, int(10 ** rng.normal(5, 0.3)), 10 ** rng.normal(-2, 0.2), rng.uniform(2, 8),
                 wal_per_call=rng.choice([0.0, 100.0])) for i in range(20)]
    got = clusters.behaviour_clusters(behaviour_matrix(figs))
    assert got["k"] == 1 and set(got["labels"]) == {0}
    assert "one kind of work" in got["why"] and got["splits"][0]["split"] is False


def test_a_split_never_leaves_fewer_than_the_minimum_templates():
    figs, _ = _planted(0)
    far = _fig(99, 1, 1e6, 1e9)  # one extreme template is not a cluster of its own
    got = clusters.behaviour_clusters(behaviour_matrix([*figs, far]))
    sizes = np.bincount(np.array(got["labels"]))
    assert sizes.min() >= clusters.MIN_CLUSTER_TEMPLATES
