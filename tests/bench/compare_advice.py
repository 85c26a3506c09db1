"""Point-by-point comparison of two `bench_index_advisor.py --json` files (pgadvisor's runs): same advice?

    python3 tests/bench/compare_advice.py before.json after.json

Prints one row per (width, budget): relative cost on each side, whether the chosen indexes are the same
(set and order), whether every search run (objective, steps, stop reason; not its seconds) and the
winner's history are the same, selection seconds and what-if calls on each side.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def points(doc: dict[str, Any]) -> dict[tuple[int, float], dict[str, Any]]:
    return {(r["width"], r["budget_mb"]): r for r in doc["runs"] if r.get("method", "pgadvisor") == "pgadvisor"}


def without_seconds(runs: dict[str, Any] | None) -> dict[str, Any]:
    return {name: {k: v for k, v in run.items() if k != "seconds"} for name, run in (runs or {}).items()}


def main() -> None:
    before, after = (points(json.load(open(p))) for p in sys.argv[1:3])
    print("| width | budget MB | rel. cost before | rel. cost after | indexes same (set, order) | search runs same "
          "| s before | s after | what-ifs before | what-ifs after |")
    print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|")
    total_b = total_a = 0.0
    for key in sorted(before):
        b, a = before[key], after.get(key)
        if a is None:
            print(f"| {key[0]} | {key[1]:g} | {b['relative_cost']:.4f} | missing | | | | | | |")
            continue
        same = b["bodies"] == a["bodies"] and b.get("rule_indexes") == a.get("rule_indexes")
        runs = without_seconds(b.get("runs")) == without_seconds(a.get("runs")) and b.get("history") == a.get("history")
        shown = f"yes ({len(b['bodies'])})" if same else "NO"
        total_b += b["seconds"]
        total_a += a["seconds"]
        print(f"| {key[0]} | {key[1]:g} | {b['relative_cost']:.4f} | {a['relative_cost']:.4f} | "
              f"{shown} | {'yes' if runs else 'no'} | {b['seconds']:.1f} | "
              f"{a['seconds']:.1f} | {b['whatif_calls']} | {a['whatif_calls']} |")
    print(f"| all {len(before)} | | | | | | {total_b:.1f} | {total_a:.1f} | | |")


if __name__ == "__main__":
    main()
