"""The `usage:` and `limits:` sections: where the usage ledger is kept, and each person's daily budget.

`usage.database` is a URL: `sqlite:///PATH` (a relative PATH is taken from the config's folder) or
`postgresql://user:${PGPASSWORD}@host/db`. `limits:` keys must be `server.tokens` names, since a budget is
counted per named token; `validate` calls `read_limits` after `server:` is read.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from claude_any.compiler.fields import Reader
from claude_any.compiler.yamlpos import Mapping, Node, Scalar
from claude_any.secrets import is_reference_only
from claude_any.suggest import did_you_mean
from claude_any.table import Limit, NamedToken, Usage

USAGE_KEYS = ("enabled", "database", "instance")
LIMIT_KEYS = ("usd_per_day", "tokens_per_day")
DATABASE_EXAMPLE = "sqlite:///PATH or postgresql://user:${PGPASSWORD}@host/db"
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")
MAX_USD_PER_DAY = 1_000_000.0
MAX_TOKENS_PER_DAY = 10**12


def read_usage(reader: Reader, node: Node, config_file: str) -> Usage:
    """`usage:`; problems are reported and the default kept for that key."""
    usage = reader.mapping(node, "usage", USAGE_KEYS)
    if usage is None:
        return Usage()
    enabled, database, instance = True, None, None
    if (child := usage.get("enabled")) is not None:
        enabled = reader.boolean(child, "usage.enabled") is not False
    if (child := usage.get("database")) is not None:
        database = _database(reader, child, config_file)
    if (child := usage.get("instance")) is not None:
        instance = reader.string(child, "usage.instance")
    return Usage(enabled=enabled, database=database, instance=instance)


def _database(reader: Reader, node: Node, config_file: str) -> str | None:
    text = reader.string(node, "usage.database")
    if text is None or not isinstance(node, Scalar):
        return None
    if text.startswith(SQLITE_PREFIX):
        path = os.path.expanduser(text[len(SQLITE_PREFIX) :])
        if not path:
            reader.error(node.pos, "usage.database", f"no file after sqlite:///; expected {DATABASE_EXAMPLE}")
            return None
        if not os.path.isabs(path):  # from the config's folder, so `run` and `usage` agree wherever run
            path = os.path.join(os.path.dirname(os.path.abspath(config_file)), path)
        return SQLITE_PREFIX + path
    if text.startswith(POSTGRES_PREFIXES):
        if _literal_password(text):
            reader.warning(
                node.pos,
                "usage.database",
                "the password is written in the config; write it as ${PGPASSWORD} and set it in the "
                "environment",
            )
        return text
    scheme = text.split("://", 1)[0] + "://" if "://" in text else text[:20]
    reader.error(
        node.pos, "usage.database", f"{scheme!r} is not a database this reads; expected {DATABASE_EXAMPLE}"
    )
    return None


def _literal_password(url: str) -> bool:
    try:
        password = urlsplit(url).password
    except ValueError:
        return False
    return bool(password) and not is_reference_only(password or "")


def read_limits(reader: Reader, node: Node, tokens: tuple[NamedToken, ...]) -> dict[str, Limit]:
    """`limits:`, name -> limit; a name not in `server.tokens` is an error with a did-you-mean."""
    if not isinstance(node, Mapping):
        reader.wrong_type(
            node, "limits", "a mapping of server.tokens names to limits, e.g. {alice: {usd_per_day: 20}}"
        )
        return {}
    names = [token.name for token in tokens]
    limits: dict[str, Limit] = {}
    for key, value in node.items:
        path = f"limits.{key.text}"
        if key.text not in names:
            where = (
                f" (those are {', '.join(names)}){did_you_mean(key.text, names)}"
                if names
                else "; server.tokens has no entries, and a budget is counted per named token"
            )
            reader.error(key.pos, path, f"{key.text!r} is not a server.tokens name{where}")
            continue
        entry = reader.mapping(value, path, LIMIT_KEYS, owner=key)
        if entry is None:
            continue
        usd_node, tokens_node = entry.get("usd_per_day"), entry.get("tokens_per_day")
        if usd_node is None and tokens_node is None:
            reader.error(entry.pos, path, "give usd_per_day, tokens_per_day or both")
            continue
        usd = reader.number(usd_node, f"{path}.usd_per_day", 0, MAX_USD_PER_DAY) if usd_node else None
        count = (
            reader.integer(tokens_node, f"{path}.tokens_per_day", 0, MAX_TOKENS_PER_DAY)
            if tokens_node
            else None
        )
        limits[key.text] = Limit(float(usd) if usd is not None else None, count)
    return limits
