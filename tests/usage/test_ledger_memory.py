"""A gateway with the usage ledger off does not load the database layer: SQLAlchemy is 13 MB of a
gateway's memory (docs/PERFORMANCE.md). Checked in a fresh interpreter, which builds the app as
`claude-any run` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import sys
from dataclasses import replace
sys.path.insert(0, sys.argv[1])
from loopback import TEST_ENV, make_table, openai_provider, target
from claude_any.runtime.serve.app import create_app
from claude_any.table import Usage

provider = openai_provider("http://127.0.0.1:9/v1")
targets = [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
table = make_table([provider], targets)
usage = Usage(enabled=sys.argv[2] == "on", database="sqlite:///" + sys.argv[3])
create_app(replace(table, usage=usage), TEST_ENV)
print("sqlalchemy" in sys.modules)
"""

TESTS = Path(__file__).resolve().parents[1]


def _loads_sqlalchemy(ledger: str, tmp_path: Path) -> bool:
    database = tmp_path / "usage.sqlite3"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(TESTS), ledger, str(database)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[-1] == "True"


@pytest.mark.parametrize(("ledger", "loaded"), [("off", False), ("on", True)])
def test_the_database_layer_is_loaded_only_for_the_ledger(ledger: str, loaded: bool, tmp_path: Path) -> None:
    assert _loads_sqlalchemy(ledger, tmp_path) is loaded
