"""Same advice from two checkouts: `pgadvisor recommend` on one e-commerce workload, run by each tree's CLI.

    git worktree add /tmp/pgadvisor-before <commit>
    python3 tests/bench/bench_same_advice.py /tmp/pgadvisor-before . [--scale 0.3] [--seconds 8] [--rounds 2]

The first tree's `pgadvisor demo --keep` loads the fixture, runs the API mix and collects two snapshots
into a store; each tree's CLI then runs `recommend --format json --time-limit none` against the same
server, on its own copy of that store (a newer tree may migrate it), `rounds` times, alternating. Prints
one row per recommendation (id, benefit, size) per tree and says whether the sets are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli(tree: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], cwd=tree, env=env, capture_output=True,
                          text=True, check=False)


def recommend(tree: Path, dsn: str, store: Path) -> tuple[dict, float]:
    t0 = time.monotonic()
    r = cli(tree, "recommend", "--dsn", dsn, "--store", str(store), "--format", "json", "--time-limit", "none")
    if r.returncode != 0:
        raise SystemExit(f"{tree}: recommend exited {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout), time.monotonic() - t0


# rule ids before issue 9: every drop was `drop-index` with its kind in evidence.kind, `fk-index` is now
# `fk-without-index`
_DROP_KINDS = {"unused": "drop-unused-index", "duplicate": "drop-duplicate-index",
               "prefix-redundant": "drop-redundant-index", "invalid": "drop-invalid-index"}


def rule_of(r: dict) -> str:
    if r["rule"] == "drop-index":
        return _DROP_KINDS.get((r.get("evidence") or {}).get("kind"), r["rule"])
    return {"fk-index": "fk-without-index"}.get(r["rule"], r["rule"])


def rows(doc: dict) -> list[tuple]:
    """(id, rule, reduction %, size) per recommendation, in today's rule ids; create-index in the ranked
    order, the others (which rank by rule id, renamed) after them, sorted."""
    out = []
    for r in doc["recommendations"]:
        rule = rule_of(r)
        rid = rule + r["id"][len(r["rule"]):] if r["id"].startswith(r["rule"] + ":") else r["id"]
        out.append((rid, rule, round((r.get("benefit") or {}).get("reduction_pct") or 0.0, 4),
                    (r.get("cost") or {}).get("size_bytes")))
    return [x for x in out if x[1] == "create-index"] + sorted(x for x in out if x[1] != "create-index")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--scale", default="0.3")
    ap.add_argument("--seconds", default="8")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pgadvisor-same-"))
    store = work / "demo.sqlite"
    r = cli(args.before, "demo", "--keep", "--scale", args.scale, "--seconds", args.seconds, "--store", str(store),
            "--format", "json")
    if r.returncode != 0:
        raise SystemExit(f"demo failed: {r.stderr.strip()}")
    dsn = json.loads(r.stdout)["dsn"]
    try:
        docs: dict[str, list[dict]] = {"before": [], "after": []}
        secs: dict[str, list[float]] = {"before": [], "after": []}
        for i in range(args.rounds):
            for side, tree in (("before", args.before), ("after", args.after)):
                copy = work / f"{side}-{i}.sqlite"
                shutil.copy(store, copy)
                doc, s = recommend(tree, dsn, copy)
                docs[side].append(doc)
                secs[side].append(s)
    finally:
        host = dict(p.split("=", 1) for p in dsn.split() if "=" in p).get("host", "")
        datadir = Path(host).parent / "data" if host else None
        if datadir and datadir.exists():
            # postmaster.opts starts with the server binary's path: pg_ctl is next to it
            pg_ctl = Path((datadir / "postmaster.opts").read_text().split()[0].strip("'\"")).parent / "pg_ctl"
            stop = [str(pg_ctl), "-D", str(datadir), "-m", "fast", "stop"]
            if os.getuid() == 0:
                stop = ["su", "postgres", "-c", " ".join(stop)]
            subprocess.run(stop, capture_output=True, check=False)
        shutil.rmtree(Path(host).parent, ignore_errors=True)
    before, after = rows(docs["before"][0]), rows(docs["after"][0])
    stable = all(rows(d) == before for d in docs["before"]) and all(rows(d) == after for d in docs["after"])
    print(f"e-commerce scale {args.scale}, {args.seconds} s of API mix; {docs['before'][0].get('database')}; "
          f"rounds {args.rounds}; each side stable across rounds: {stable}\n")
    print("| # | id | rule | reduction % before | after | size before | after |")
    print("|---|---|---|---:|---:|---:|---:|")
    for i, (b, a) in enumerate(zip(before + [None] * (len(after) - len(before)),
                                   after + [None] * (len(before) - len(after)), strict=True), 1):
        bb = b or ("-", "-", "-", "-")
        aa = a or ("-", "-", "-", "-")
        same = "" if b == a else " **differs**"
        name, rule = (b or a)[0], (b or a)[1]
        print(f"| {i} | {name}{same} | {rule} | {bb[2]} | {aa[2]} | {bb[3]} | {aa[3]} |")
    whole = [json.dumps([r for r in d["recommendations"] if r["rule"] == "create-index"], sort_keys=True)
             .replace('"fk-index"', '"fk-without-index"') for d in (docs["before"][0], docs["after"][0])]
    print(f"\nidentical: {before == after}; create-index recommendations whole (evidence, SQL, also) identical: "
          f"{whole[0] == whole[1]}; rejected {len(docs['before'][0].get('rejected', []))} vs "
          f"{len(docs['after'][0].get('rejected', []))}; "
          f"recommend s before {'/'.join(f'{s:.1f}' for s in secs['before'])}, "
          f"after {'/'.join(f'{s:.1f}' for s in secs['after'])}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
