"""The config compiler: config.yaml -> checked `RoutingTable` -> routes.json.

`compile_config` never raises for anything in the file: every problem, from unreadable bytes to a bad rule,
comes back as a positioned `Diagnostic`. Secrets are never resolved here; `${VAR}` stays verbatim.
"""

from __future__ import annotations

import os
import tempfile
from typing import NamedTuple

from claude_any.compiler.build import build
from claude_any.compiler.diagnostics import Diagnostic, Diagnostics
from claude_any.compiler.fields import Reader
from claude_any.compiler.validate import validate
from claude_any.compiler.yamlpos import load
from claude_any.table import Position, RoutingTable

__all__ = ["CompileResult", "Diagnostic", "compile_config", "compile_text", "write_routes"]


class CompileResult(NamedTuple):
    """The table (None when there is any error) and every diagnostic, sorted by position."""

    table: RoutingTable | None
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        """Only the errors."""
        return [d for d in self.diagnostics if d.level == "error"]


def compile_config(path: str) -> CompileResult:
    """Compile the config file at `path`; positions and routes.json `source` use `path` as given."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        return _failed(path, f"not UTF-8 text (byte {exc.start}); save the config as UTF-8")
    except OSError as exc:
        return _failed(path, f"cannot read config: {exc.strerror or exc.__class__.__name__}")
    return compile_text(text, path)


def compile_text(text: str, file: str) -> CompileResult:
    """Compile config text as if it were read from `file` (for tests and in-memory configs)."""
    diags = Diagnostics()
    try:
        document = load(text, file, diags)
        table = None
        if document.parsed:
            config = validate(document.root, file, Reader(diags))
            table = build(config, diags)
    except Exception as exc:  # the boundary: a compiler bug must still end as a diagnostic, not a traceback
        # Only the exception's type is shown: its text could quote a value from the config.
        diags.error(Position(file, 1, 1), f"internal compiler error ({type(exc).__name__}); please report it")
        table = None
    if diags.has_errors:
        table = None
    return CompileResult(table, diags.sorted())


def _failed(file: str, message: str) -> CompileResult:
    return CompileResult(None, [Diagnostic("error", file, 1, 1, message)])


def write_routes(table: RoutingTable, out_path: str) -> None:
    """Write `table.dumps()` to `out_path` with mode 0600, creating parent directories.

    The file is written next to its destination and renamed over it, so a reader never sees half a table
    and an existing file with wider permissions is replaced by a 0600 one.
    """
    parent = os.path.dirname(out_path) or "."
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".routes-", suffix=".tmp", dir=parent)  # created 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(table.dumps())
        os.replace(tmp, out_path)
        os.chmod(out_path, 0o600)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
