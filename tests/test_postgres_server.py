"""The tests' PostgreSQL (tests/postgres_server.py): a real server, a fresh database per test, a private
cluster a test may stop and start, and a skip only where CI does not require PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import postgres_server as pg
import pytest
from postgres_server import Cluster, PostgresError, Server

REPO = Path(__file__).resolve().parents[1]


def test_each_test_gets_an_empty_database_on_a_running_server(
    postgres_server: Server, postgres_url: str
) -> None:
    assert postgres_url.startswith("postgresql://")
    postgres_server.sql("CREATE TABLE t (n integer); INSERT INTO t VALUES (1), (2)", postgres_url)
    assert postgres_server.sql("SELECT sum(n) FROM t", postgres_url).strip() == "3"
    another = postgres_server.new_database()
    assert another != postgres_url
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    assert postgres_server.sql(tables, another).strip() == "0"


def test_a_private_cluster_can_go_away_and_come_back_with_its_data(private_postgres: Cluster) -> None:
    server = Server(private_postgres.url, pg.find_psql(private_postgres.bin_dir) or Path("psql"))
    server.sql("CREATE TABLE kept (n integer); INSERT INTO kept VALUES (7)")
    port = private_postgres.port
    private_postgres.stop()
    with pytest.raises(PostgresError):
        server.sql("SELECT 1")
    private_postgres.start()
    assert private_postgres.port == port
    assert server.sql("SELECT n FROM kept").strip() == "7"


def test_as_root_the_cluster_belongs_to_the_postgres_user(private_postgres: Cluster) -> None:
    if not pg.is_root():
        pytest.skip("only as root does the cluster run as another user")
    import pwd

    assert private_postgres.data.stat().st_uid == pwd.getpwnam("postgres").pw_uid


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(pg, "DEBIAN_BIN_GLOB", str(tmp_path / "lib" / "*" / "bin"))
    monkeypatch.delenv(pg.URL_VARIABLE, raising=False)


@pytest.mark.usefixtures("nothing_installed")
def test_without_postgresql_the_tests_skip_saying_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pg.REQUIRED_VARIABLE, raising=False)
    assert pg.open_server() is None
    with pytest.raises(pytest.skip.Exception) as skipped:
        pg.skip_or_fail(pg.unavailable_reason())
    assert "apt-get install postgresql" in str(skipped.value)
    assert pg.URL_VARIABLE in str(skipped.value)


@pytest.mark.usefixtures("nothing_installed")
def test_when_ci_requires_postgresql_its_absence_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg.REQUIRED_VARIABLE, "1")
    with pytest.raises(pytest.fail.Exception):
        pg.skip_or_fail(pg.unavailable_reason())


def test_debian_binaries_off_path_are_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for version in ("13", "15"):
        bin_dir = tmp_path / "lib" / version / "bin"
        bin_dir.mkdir(parents=True)
        for name in ("initdb", "pg_ctl", "psql"):
            (bin_dir / name).write_text("#!/bin/sh\n")
            (bin_dir / name).chmod(0o755)
    monkeypatch.setattr(pg, "DEBIAN_BIN_GLOB", str(tmp_path / "lib" / "*" / "bin"))
    assert pg.find_bin_dir(path=str(tmp_path / "empty")) == tmp_path / "lib" / "15" / "bin"


def test_ci_installs_postgresql_and_requires_its_tests() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "postgresql" in ci
    assert f"export {pg.REQUIRED_VARIABLE}=1" in ci
