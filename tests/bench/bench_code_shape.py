"""The shape of the code in one or two checkouts: module sizes and the longest functions (computed with `ast`).

    python3 tests/bench/bench_code_shape.py /tmp/pgadvisor-before .      # before / after
    python3 tests/bench/bench_code_shape.py .                             # this checkout only

Prints a table of the modules of `pgadvisor/` with their line counts on each side (modules over
MAX_MODULE_LINES marked), the 15 longest functions and methods on each side, and counts of functions
over MAX_FUNCTION_LINES and of constructors with more than MAX_INIT_PARAMS parameters.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# issue 9's guide: no module over ~500 lines, no function over ~60 lines, no constructor with more than a
# handful of parameters
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_INIT_PARAMS = 6


def modules(tree: Path) -> dict[str, int]:
    root = tree / "pgadvisor"
    return {str(p.relative_to(tree)): len(p.read_text().splitlines()) for p in sorted(root.rglob("*.py"))}


def functions(tree: Path) -> list[tuple[int, str, int]]:
    """(lines, qualified name, parameters) of every function and method."""
    out = []
    for p in sorted((tree / "pgadvisor").rglob("*.py")):
        mod = str(p.relative_to(tree))[:-3].replace("/", ".")

        def visit(node: ast.AST, prefix: str, mod: str = mod) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = child.args
                    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) - (1 if prefix else 0)
                    out.append((child.end_lineno - child.lineno + 1, f"{mod}:{prefix}{child.name}", n))
                    visit(child, f"{prefix}{child.name}.<locals>.")

        visit(ast.parse(p.read_text()), "")
    return sorted(out, reverse=True)


def main() -> None:
    trees = [Path(a) for a in sys.argv[1:]] or [Path(".")]
    mods = [modules(t) for t in trees]
    names = sorted(set().union(*mods), key=lambda n: -max(m.get(n, 0) for m in mods))
    head = " | ".join(str(t) for t in trees)
    print(f"| module | {head} |\n|---|" + "---:|" * len(trees))
    for n in names:
        cells = [m.get(n) for m in mods]
        print(f"| {n} | " + " | ".join("-" if c is None else (f"**{c}**" if c > MAX_MODULE_LINES else str(c))
                                        for c in cells) + " |")
    print("| total | " + " | ".join(f"{sum(m.values()):,} in {len(m)} modules" for m in mods) + " |")
    print()
    funcs = [functions(t) for t in trees]
    for t, fs in zip(trees, funcs, strict=True):
        long = sum(1 for lines, _, _ in fs if lines > MAX_FUNCTION_LINES)
        wide = [name for _, name, n in fs if name.endswith("__init__") and n > MAX_INIT_PARAMS]
        print(f"{t}: {len(fs)} functions, {long} over {MAX_FUNCTION_LINES} lines; constructors with more than "
              f"{MAX_INIT_PARAMS} parameters: {', '.join(wide) or 'none'}; modules over {MAX_MODULE_LINES} lines: "
              f"{sum(1 for v in mods[trees.index(t)].values() if v > MAX_MODULE_LINES)}")
    print(f"\n| rank | {' | '.join(f'{t} (lines, params)' for t in trees)} |\n|---|" + "---|" * len(trees))
    for i in range(15):
        cells = [f"{fs[i][1]} ({fs[i][0]}, {fs[i][2]})" if i < len(fs) else "" for fs in funcs]
        print(f"| {i + 1} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
