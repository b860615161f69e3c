"""A real PostgreSQL server for the tests (and the ledger benchmark).

``initdb`` and ``pg_ctl`` from the machine's PostgreSQL (Debian's ``postgresql`` package) make a
cluster in a temporary directory, listening on a private port on 127.0.0.1 and on a unix socket
in that directory. initdb and the server refuse to run as root, so when the tests run as root
they run as the ``postgres`` user (``runuser``), in a directory that user owns.

The tests connect as the role ``metpost`` over TCP with a password (scram-sha-256), which they
find in PGPASSWORD, as a cron host would; the fixtures themselves connect as the superuser over
the socket. One server per session (``postgres_server``), a fresh database per test
(``postgres_database``, which yields its URL).

``METPOST_TEST_LEDGER=postgres`` (``make test-postgres``) puts every test that uses the fake
fleet on a fresh PostgreSQL database instead of a SQLite file.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LEDGER_SWITCH = "METPOST_TEST_LEDGER"
TEST_LEDGER = os.environ.get(LEDGER_SWITCH, "sqlite")  # read before any fixture clears METPOST_*
if TEST_LEDGER not in ("sqlite", "postgres"):
    raise RuntimeError(f"{LEDGER_SWITCH}={TEST_LEDGER}: say sqlite or postgres")
ROLE = "metpost"
SUPERUSER = "postgres"
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresUnavailable(Exception):
    """PostgreSQL is not installed here, or its server would not start."""


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's answer, else the newest Debian version."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            candidates.append(Path(subprocess.run([pg_config, "--bindir"], capture_output=True,
                                                  text=True, check=True).stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path))

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version,
                                           reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    return next((path for path in candidates
                 if (path / "initdb").exists() and (path / "pg_ctl").exists()), None)


def installed_version() -> str | None:
    """``postgres --version`` of the server the tests would start, or None."""
    bindir = find_bindir()
    if bindir is None:
        return None
    return subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                          text=True, check=False).stdout.strip() or None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This process's environment without libpq's variables (PGHOST, PGPORT, PGDATA ...)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster in ``root``; ``password`` is the ``metpost`` role's."""

    root: Path
    bindir: Path
    port: int
    password: str
    durable: bool
    _names: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def start_new(cls, *, durable: bool = False) -> PostgresServer:
        """initdb and start a cluster. ``durable=False`` trades crash safety for speed (fsync
        off), which the tests can afford; a server that is killed mid-write wants True."""
        bindir = find_bindir()
        if bindir is None:
            raise PostgresUnavailable("initdb and pg_ctl not found (pg_config --bindir, "
                                      "/usr/lib/postgresql/*/bin, PATH)")
        root = Path(tempfile.mkdtemp(prefix="metpost-pg-"))
        server = cls(root=root, bindir=bindir, port=free_port(),
                     password=f"pw-{secrets.token_hex(12)}", durable=durable)
        atexit.register(server.destroy)
        try:
            server._initdb()
            server._start_on_a_free_port()
            server._create_role()
        except BaseException:
            server.destroy()
            raise
        return server

    # -- the cluster ----------------------------------------------------------------------------

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def as_owner(self) -> list[str]:
        """The prefix that runs a command as the cluster's owner (not root)."""
        return ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        finished = subprocess.run([*self.as_owner, *command], capture_output=True, text=True,
                                  env=clean_environment(), cwd=self.root, check=False,
                                  timeout=120)
        if check and finished.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed: {finished.stderr.strip()} "
                                      f"{self.log_tail()}")
        return finished

    def _initdb(self) -> None:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresUnavailable("running as root, and there is no 'postgres' user to "
                                          "run initdb as") from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\ninclude_if_exists = 'metpost_test.conf'\n")

    def _write_settings(self) -> None:
        settings = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                    "unix_socket_directories": f"'{self.root}'", "max_connections": "200",
                    "logging_collector": "off"}
        if not self.durable:
            settings |= FAST_SETTINGS
        path = self.data / "metpost_test.conf"
        path.write_text("".join(f"{name} = {value}\n" for name, value in settings.items()),
                        encoding="utf-8")
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SUPERUSER)
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _start_on_a_free_port(self) -> None:
        for _ in range(3):  # the port chosen may be taken before the server binds it
            self._write_settings()
            if self._run(*self.pg_ctl("start"), check=False).returncode == 0:
                return
            self.port = free_port()
        raise PostgresUnavailable(f"the server would not start: {self.log_tail()}")

    def pg_ctl(self, action: str, mode: str = "fast") -> list[str]:
        """The pg_ctl command line for ``action`` (start, stop, restart)."""
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.root / "server.log"), "-w", "-t", "60"]
        return [*command, action] if action == "start" else [*command, "-m", mode, action]

    def start(self) -> None:
        self._run(*self.pg_ctl("start"))

    def stop(self, mode: str = "fast") -> None:
        self._run(*self.pg_ctl("stop", mode))

    def restart(self, mode: str = "fast") -> None:
        self._run(*self.pg_ctl("restart", mode))

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def destroy(self) -> None:
        """Stop the server (if it runs) and delete its directory."""
        if not self.root.exists():
            return
        if (self.data / "postmaster.pid").exists():
            self._run(*self.pg_ctl("stop", "immediate"), check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases ------------------------------------------------------------------------------

    def admin(self) -> Any:
        """A superuser connection over the socket (autocommit)."""
        import psycopg

        return psycopg.connect(host=str(self.root), port=self.port, user=SUPERUSER,
                               dbname="postgres", autocommit=True)

    def _create_role(self) -> None:
        from psycopg import sql

        with self.admin() as db:
            db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(self.password)))

    def version(self) -> str:
        with self.admin() as db:
            return str(db.execute("SHOW server_version").fetchone()[0])

    def create_database(self) -> str:
        """A new, empty database owned by ``metpost``; its name."""
        from psycopg import sql

        name = f"ledger_{os.getpid()}_{next(self._names)}"
        with self.admin() as db:
            db.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(ROLE)))
        return name

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.admin() as db:  # FORCE: a killed run's connection may linger a moment
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def url(self, database: str, *, user: str = ROLE) -> str:
        """The ledger URL of ``database``, as a cron host would write it (no password)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"


# -- reading a ledger, whichever its backend --------------------------------------------------

def ledger_rows(ledger: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` selects from ``ledger`` (a SQLite path or a PostgreSQL URL)."""
    if ledger.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(ledger) as db:
            return [tuple(row) for row in db.execute(sql).fetchall()]
    db = sqlite3.connect(ledger)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def ledger_execute(ledger: str, sql: str) -> None:
    """Run a statement that changes ``ledger`` (a test standing in for another run)."""
    if ledger.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(ledger, autocommit=True) as db:
            db.execute(sql)
        return
    db = sqlite3.connect(ledger, isolation_level=None)
    try:
        db.execute(sql)
    finally:
        db.close()


def ledger_text(ledger: str) -> str:
    """Everything ``ledger`` stores, as text: to look for what must never be stored there."""
    if not ledger.startswith("postgresql://"):
        # The file's bytes and its write-ahead log's (where the latest writes sit until a
        # checkpoint), and every row as SQLite reads it back.
        path = Path(ledger)
        if not path.exists():
            return ""
        stored = [Path(f"{ledger}{suffix}") for suffix in ("", "-wal")]
        raw = "".join(part.read_bytes().decode("latin-1") for part in stored if part.exists())
        tables = [row[0] for row in ledger_rows(
            ledger, "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return raw + "\n".join(repr(row) for table in tables
                               for row in ledger_rows(ledger, f'SELECT * FROM "{table}"'))
    tables = [row[0] for row in ledger_rows(
        ledger, "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()")]
    return "\n".join(repr(row) for table in tables
                     for row in ledger_rows(ledger, f'SELECT * FROM "{table}"'))


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; skipped (failed under CI) where there is none."""
    try:
        server = PostgresServer.start_new()
    except PostgresUnavailable as error:
        message = f"PostgreSQL is not available: {error}; install it: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a skip there would hide a broken setup
        pytest.skip(message)
    yield server
    server.destroy()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer,
                      monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database's URL; PGPASSWORD holds the password, as on a cron host."""
    for name in list(os.environ):
        if name.startswith("PG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which ledger the fleet's tests use, and the PostgreSQL server the tests start."""
    return [f"ledger under test: {TEST_LEDGER} ({LEDGER_SWITCH}; `make test-postgres` sets "
            "postgres)",
            f"postgresql server: {installed_version() or 'not installed (its tests skip)'}"]
