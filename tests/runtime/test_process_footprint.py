"""A gateway process loads only the libraries its config uses. Each of these stays resident in every
process (docs/PERFORMANCE.md, "Memory"): SQLAlchemy 13 MB for the usage ledger, lark 1.5 MB for rule
expressions, wsproto 0.9 MB (uvicorn's WebSockets, which the gateway does not serve), aiohttp-socks 0.5 MB for
SOCKS proxies. Checked in a fresh interpreter that does what `claude-any run config.yaml` does before it
binds: compile the config, build the app, load uvicorn's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_PROBE = """
import sys
from claude_any.cli import load_table
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.server import client_limits, uvicorn_config

table = load_table(sys.argv[1])
app = create_app(table, {})
uvicorn_config(app, client_limits(table)).load()
print(" ".join(name for name in ("sqlalchemy", "lark", "wsproto", "aiohttp_socks") if name in sys.modules))
"""

_PROVIDERS = """\
providers: {p: {kind: openai, base_url: 'http://127.0.0.1:9/v1'}}
model_categories: {large: p/gpt-4o, small: p/gpt-4o-mini}
"""


def _loaded(tmp_path: Path, config: str) -> set[str]:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_a_plain_config_loads_none_of_them(tmp_path: Path) -> None:
    assert _loaded(tmp_path, _PROVIDERS + "usage: {enabled: false}\n") == set()


def test_the_ledger_and_rules_load_what_they_need(tmp_path: Path) -> None:
    config = (
        _PROVIDERS
        + "routes: [{when: 'tokens > 100k', to: large}]\n"
        + f"usage: {{database: 'sqlite:///{tmp_path}/usage.sqlite3'}}\n"
    )
    assert _loaded(tmp_path, config) == {"sqlalchemy", "lark"}
