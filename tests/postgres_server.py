"""A real PostgreSQL server for the tests: the one in $CLAUDE_ANY_TEST_POSTGRES_URL, or a private throwaway
cluster started here (initdb into a temporary directory, `pg_ctl start` on a free loopback port, stopped and
deleted at the end).

Tests ask for the `postgres_url` fixture (registered in conftest.py): a fresh, empty database on that server
for each test. When no PostgreSQL is installed they skip, saying what was looked for, unless
$CLAUDE_ANY_POSTGRES_REQUIRED is set (as `.ci/run` does): then they fail, so CI cannot pass without them.

The server binaries are found on PATH or under /usr/lib/postgresql/*/bin (where Debian puts them, off PATH).
initdb refuses to run as root, so as root the cluster runs as the `postgres` system user, with the data
directory owned by it. The client side is `psql` (Debian's postgresql depends on postgresql-client), so this
module needs no database driver of its own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

URL_VARIABLE = "CLAUDE_ANY_TEST_POSTGRES_URL"
REQUIRED_VARIABLE = "CLAUDE_ANY_POSTGRES_REQUIRED"
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
COMMAND_TIMEOUT_S = 60.0  # a guard against a hung initdb/pg_ctl/psql, not a performance assertion
SERVER_USER = "postgres"  # the system user a cluster runs as when the tests run as root
# Superuser `postgres`, trusted on loopback (the cluster listens nowhere else); no fsync (throwaway data).
INITDB_OPTIONS = ("-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def find_bin_dir(path: str | None = None) -> Path | None:
    """The directory holding initdb, pg_ctl and psql: the one on PATH first, else Debian's newest."""
    on_path = shutil.which("initdb", path=path if path is not None else os.environ.get("PATH"))
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted((Path(p) for p in glob.glob(DEBIAN_BIN_GLOB)), key=_version_key, reverse=True)
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return bin_dir
    return None


def find_psql(bin_dir: Path | None) -> Path | None:
    """psql beside the server binaries, else on PATH (for a server given by URL)."""
    if bin_dir is not None and os.access(bin_dir / "psql", os.X_OK):
        return bin_dir / "psql"
    on_path = shutil.which("psql")
    if on_path:
        return Path(on_path)
    found = find_bin_dir()
    return found / "psql" if found is not None and os.access(found / "psql", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_root() -> bool:
    """Whether this process runs as root (never on Windows, which has no such user)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def with_database(url: str, database: str) -> str:
    """`url` with its path (the database name) replaced by `database`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


class PostgresError(RuntimeError):
    """A PostgreSQL command failed; the message has its output."""


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise PostgresError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr or result.stdout}")
    return result.stdout


class Cluster:
    """A private PostgreSQL cluster in a temporary directory, on 127.0.0.1 only, with trust authentication
    (nothing but this machine's loopback can reach it, and it lives only as long as the tests).

    `stop()` and `start()` may be called again mid-test (to take the database away and bring it back); the
    port and data survive a restart.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self._as_root = is_root()
        self.directory = Path(tempfile.mkdtemp(prefix="claude-any-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = 0
        if self._as_root:
            import pwd  # POSIX only, as is running as root

            try:
                server_user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresError(
                    f"running as root, and initdb refuses root: there is no {SERVER_USER!r} user to run it as"
                ) from None
            os.chown(self.directory, server_user.pw_uid, server_user.pw_gid)
        self._server_command("initdb", "-D", str(self.data), *INITDB_OPTIONS)

    def _server_command(self, program: str, *args: str) -> str:
        argv = [str(self.bin_dir / program), *args]
        if self._as_root:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        # The C locale, so initdb does not depend on which locales this machine has generated.
        return _run(argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"})

    @property
    def url(self) -> str:
        """The URL of the `postgres` maintenance database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> Cluster:
        """Start the server (on a free port the first time, on the same port after a stop)."""
        # A free port can be taken between the probe and the bind: try another, twice.
        ports = [self.port] if self.port else (_free_port() for _ in range(3))
        failure = PostgresError("no port to start on")
        for port in ports:
            # No durability: a test database that loses its last commits in a crash loses nothing.
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = ("start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options)
            try:
                self._server_command("pg_ctl", *start)
            except PostgresError as error:
                failure = error
                continue
            self.port = port
            return self
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise PostgresError(f"{failure}\nserver log:\n{log}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` disconnects the clients and keeps every commit; `immediate` is a crash."""
        self._server_command("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def destroy(self) -> None:
        """Stop the server if it runs, and delete the cluster."""
        with contextlib.suppress(PostgresError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class Server:
    """A running PostgreSQL server the tests may create databases on: by URL, or a private `Cluster`."""

    def __init__(self, maintenance_url: str, psql: Path, cluster: Cluster | None = None) -> None:
        self.maintenance_url = maintenance_url
        self.psql = psql
        self.cluster = cluster
        self._created: list[str] = []

    def sql(self, statement: str, url: str | None = None) -> str:
        """Run one SQL statement (on the maintenance database unless `url`); returns psql's bare output."""
        database = url or self.maintenance_url
        return _run(
            [str(self.psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", statement]
        )

    def new_database(self) -> str:
        """Create an empty database; returns its URL."""
        name = "claude_any_test_" + uuid.uuid4().hex[:12]
        self.sql(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return with_database(self.maintenance_url, name)

    def close(self) -> None:
        """Drop the databases made on a server given by URL; delete a private cluster."""
        if self.cluster is not None:
            self.cluster.destroy()
            return
        for name in self._created:
            with contextlib.suppress(PostgresError):
                self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unavailable_reason() -> str:
    """Why no PostgreSQL can be had here (what was looked for and how to get one)."""
    return (
        f"no PostgreSQL: ${URL_VARIABLE} is not set and there is no initdb/pg_ctl on PATH or under "
        f"{DEBIAN_BIN_GLOB}. Install the server (`apt-get install postgresql`, as .ci/run does), or set "
        f"{URL_VARIABLE}=postgresql://user:password@host:port/db (a role that may create databases)"
    )


def skip_or_fail(why: str) -> NoReturn:
    """Skip with the reason, or fail when $CLAUDE_ANY_POSTGRES_REQUIRED says these tests must run."""
    if os.environ.get(REQUIRED_VARIABLE):  # set by .ci/run: CI must run these tests
        pytest.fail(why)
    pytest.skip(why)


def open_server() -> Server | None:
    """The server to test against, started if need be; None when there is none to be had."""
    given = os.environ.get(URL_VARIABLE)
    bin_dir = find_bin_dir()
    if given:
        psql = find_psql(bin_dir)
        if psql is None:
            raise PostgresError(f"${URL_VARIABLE} is set, but there is no psql to create test databases with")
        return Server(given, psql)
    if bin_dir is None:
        return None
    psql = find_psql(bin_dir)
    if psql is None:
        raise PostgresError(f"there is no psql beside {bin_dir}/initdb or on PATH")
    cluster = Cluster(bin_dir)
    try:
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return Server(cluster.url, psql, cluster)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """The PostgreSQL server for this test session (skips, or fails under CI, when there is none)."""
    server = open_server()
    if server is None:
        skip_or_fail(unavailable_reason())
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: Server) -> str:
    """The URL of a fresh, empty database on a real, running PostgreSQL server (one per test)."""
    return postgres_server.new_database()


@pytest.fixture
def private_postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own, which it may stop and start (a database going away and
    coming back) without disturbing other tests."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        skip_or_fail(unavailable_reason())
    cluster = Cluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.destroy()
