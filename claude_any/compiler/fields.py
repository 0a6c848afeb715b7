"""Typed reads of YAML nodes: each read either returns a value or records a positioned error and returns None.

Messages start with the dotted path of the value (`providers.azure.api_version: …`) so an error is clear
even without looking at the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

from claude_any import secrets
from claude_any.compiler.diagnostics import Diagnostics, did_you_mean, one_of
from claude_any.compiler.yamlpos import Mapping, Node, Scalar, Sequence
from claude_any.table import Position

# Where a shell-style `$NAME` cannot be meant literally: credentials, provider addresses and versions.
_CREDENTIAL_OR_ADDRESS = re.compile(
    r"(^server\.(auth_token|tokens\.[^.]+)"
    r"|^providers\.[^.]+\.(api_key|token|base_url|endpoint|host|organization|api_version)"
    r"|\.headers\.(authorization|api-key|x-api-key))$",
    re.IGNORECASE,
)


class Reader:
    """Reads config values out of a positioned YAML tree, reporting every problem to `diags`."""

    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags

    def error(self, pos: Position, path: str, message: str, extra: Collection[str] = ()) -> None:
        """Record `path: message` as an error at `pos`."""
        self.diags.error(pos, f"{path}: {message}" if path else message, extra)

    def warning(self, pos: Position, path: str, message: str) -> None:
        """Record `path: message` as a warning at `pos`."""
        self.diags.warning(pos, f"{path}: {message}" if path else message)

    def wrong_type(self, node: Node, path: str, expected: str) -> None:
        """Record "expected X, got Y" at `node`."""
        self.error(node.pos, path, f"expected {expected}, got {node.kind}")

    def mapping(
        self,
        node: Node,
        path: str,
        allowed: Collection[str],
        required: Collection[str] = (),
        owner: Node | None = None,
    ) -> Mapping | None:
        """`node` as a mapping whose keys are all in `allowed` and include every key of `required`.

        Missing keys are reported at `owner` (usually the key that holds this mapping), else at `node`.
        """
        if not isinstance(node, Mapping):
            self.wrong_type(node, path, "a mapping")
            return None
        self.check_keys(node, path, allowed)
        for key in required:
            if node.get(key) is None:
                self.error((owner or node).pos, path, f"missing required key {key!r}")
        return node

    def check_keys(self, node: Mapping, path: str, allowed: Collection[str]) -> None:
        """Report every key of `node` not in `allowed`, with a did-you-mean and the list of valid keys."""
        for key, _ in node.items:
            if key.text not in allowed:
                where = f"in {path}" if path else "at the top level"
                hint = did_you_mean(key.text, allowed)
                self.diags.error(
                    key.pos,
                    f"unknown key {key.text!r} {where}{hint}",
                    [f"  valid keys: {', '.join(sorted(allowed))}"],
                )

    def string(self, node: Node, path: str, *, empty_ok: bool = False) -> str | None:
        """A string scalar; malformed `${` references in it are reported (without showing the value)."""
        if not isinstance(node, Scalar) or not isinstance(node.value, str):
            hint = " (quote it)" if isinstance(node, Scalar) and node.value is not None else ""
            self.error(node.pos, path, f"expected a string, got {node.kind}{hint}")
            return None
        if not node.value and not empty_ok:
            self.error(node.pos, path, "must not be empty")
            return None
        self.check_references(node, path)
        return node.value

    def check_references(self, node: Scalar, path: str) -> bool:
        """Report malformed `${…}` references in a string scalar; True when there were none.

        A shell-style `$NAME` is reported too (rules aside, where `$` is a regex anchor): an error where it
        would be sent as a credential or an address, or is the whole value; elsewhere a warning, since the
        text could be meant literally.
        """
        found = secrets.malformed_references(node.text)
        for bad in found:
            self.error(node.position_at(bad.start), path, bad.message)
        if not path.endswith(".when"):
            for bare in secrets.bare_references(node.text):
                where, message = node.position_at(bare.start), bare.message
                whole = bare.start == 0 and bare.end == len(node.text)
                if whole or _CREDENTIAL_OR_ADDRESS.search(path):
                    self.error(where, path, message)
                    found.append(secrets.MalformedReference(bare.start, bare.end, message))
                else:
                    self.warning(where, path, message)
        return not found

    def choice(self, node: Node, path: str, choices: Collection[str]) -> str | None:
        """A string that must be one of `choices`."""
        value = self.string(node, path)
        if value is None:
            return None
        if value not in choices:
            hint = did_you_mean(value, choices)
            self.error(node.pos, path, f"expected {one_of(choices)}, got {value!r}{hint}")
            return None
        return value

    def integer(self, node: Node, path: str, low: int, high: int | None = None) -> int | None:
        """An integer in `[low, high]` (booleans are not integers here)."""
        if not isinstance(node, Scalar) or isinstance(node.value, bool) or not isinstance(node.value, int):
            if isinstance(node, Scalar) and isinstance(node.value, float):
                self.error(node.pos, path, f"expected a whole number, got {node.text}")
            else:
                self.wrong_type(node, path, "a whole number")
            return None
        if node.value < low or (high is not None and node.value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.error(node.pos, path, f"{node.value} is out of range; expected a number {bounds}")
            return None
        return node.value

    def number(self, node: Node, path: str, low: float, high: float) -> float | int | None:
        """A finite int or float in `[low, high]`."""
        value = node.value if isinstance(node, Scalar) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong_type(node, path, "a number")
            return None
        if not math.isfinite(value) or not low <= value <= high:
            self.error(
                node.pos,
                path,
                f"{node.text if isinstance(node, Scalar) else value} is out of range; "
                f"expected a number between {low:g} and {high:g}",
            )
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        """A YAML boolean."""
        if not isinstance(node, Scalar) or not isinstance(node.value, bool):
            self.wrong_type(node, path, "true or false")
            return None
        return node.value

    def string_map(self, node: Node, path: str) -> dict[str, str]:
        """A mapping of names to strings (extra headers); bad entries are reported and left out."""
        if not isinstance(node, Mapping):
            self.wrong_type(node, path, "a mapping of names to strings")
            return {}
        result: dict[str, str] = {}
        for key, value in node.items:
            text = self.string(value, f"{path}.{key.text}", empty_ok=True)
            if text is not None:
                result[key.text] = text
        return result

    def json_object(self, node: Node, path: str) -> dict[str, Any]:
        """A mapping of field names to JSON values (extra body fields)."""
        if not isinstance(node, Mapping):
            self.wrong_type(node, path, "a mapping of field names to values")
            return {}
        value = self.json_value(node, path)
        return value if isinstance(value, dict) else {}

    def json_value(self, node: Node, path: str) -> Any:
        """Any JSON value; YAML-only values (NaN, infinity) are reported and become None."""
        if isinstance(node, Mapping):
            return {key.text: self.json_value(value, f"{path}.{key.text}") for key, value in node.items}
        if isinstance(node, Sequence):
            return [self.json_value(item, f"{path}[{i}]") for i, item in enumerate(node.items)]
        assert isinstance(node, Scalar)
        if isinstance(node.value, float) and not math.isfinite(node.value):
            self.error(node.pos, path, f"{node.text} is not a JSON number")
            return None
        if isinstance(node.value, str):
            self.check_references(node, path)
        return node.value

    def string_list(self, node: Node, path: str) -> list[tuple[str, Scalar]]:
        """A string or a list of strings, each with its node (for positions)."""
        items = node.items if isinstance(node, Sequence) else [node]
        if isinstance(node, Sequence) and not items:
            self.error(node.pos, path, "must not be an empty list")
        result: list[tuple[str, Scalar]] = []
        for i, item in enumerate(items):
            where = f"{path}[{i}]" if isinstance(node, Sequence) else path
            if isinstance(item, Sequence | Mapping):
                self.wrong_type(
                    item, where, "a string" if isinstance(node, Sequence) else "a string or a list"
                )
                continue
            text = self.string(item, where)
            if text is not None and isinstance(item, Scalar):
                result.append((text, item))
        return result
