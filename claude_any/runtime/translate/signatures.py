"""The signatures of the thinking blocks the gateway makes: opaque to the client, which stores and replays
them with the conversation; only the gateway reads them, to tell which target wrote a thinking block and
what that provider needs back with it on the next turn.

    ca2.<target tag>.<text hash>[.<carried>]   thinking from an OpenAI-style target. The tag names the
                                               target (`target_tag`): the thinking goes back only there
                                               (after a model switch no provider gets another's reasoning).
                                               <carried> is base64url JSON the provider needs back verbatim
                                               (OpenRouter's `reasoning_details`).
    ca1r.<model tag>.<encrypted_content>       a Responses API reasoning item, for the same upstream model.
    ca1.<text hash>                            thinking from earlier releases: its target is unknown, so it
                                               goes back nowhere.

A provider's own signature (Databricks' reasoning summaries) is kept as it came; it is not the gateway's.
The signatures are not secret and not authenticated: a client that forges one only changes what its own
request sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

SIGNATURE_PREFIX = "ca2."
_LEGACY_PREFIX = "ca1."
REASONING_SIGNATURE_PREFIX = "ca1r."
_GATEWAY_PREFIXES = (SIGNATURE_PREFIX, _LEGACY_PREFIX, REASONING_SIGNATURE_PREFIX)


def target_tag(kind: str, model: str) -> str:
    """A short tag naming one upstream model of one provider kind (the target the thinking came from)."""
    return hashlib.sha256(f"{kind}\0{model}".encode()).hexdigest()[:8]


def signature_of(tag: str, digest: Any, carried: Any = None) -> str:
    """The signature of thinking whose sha256 object is `digest` (the stream hashes it as it comes), written
    by the target `tag`, with `carried` (JSON) to hand back to it."""
    value = f"{SIGNATURE_PREFIX}{tag}.{digest.hexdigest()[:16]}"
    if carried:
        packed = json.dumps(carried, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        value += "." + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")
    return value


def signature(tag: str, thinking: str, carried: Any = None) -> str:
    """`signature_of` for complete thinking text."""
    return signature_of(tag, hashlib.sha256(thinking.encode("utf-8")), carried)


@dataclass(frozen=True, slots=True)
class Signed:
    """What a `ca2.` signature says: the target that wrote the thinking, and what it wanted back."""

    tag: str
    carried: Any = None


def read_signature(value: Any) -> Signed | None:
    """The contents of a `ca2.` signature; None for any other value (another format, Anthropic's, a forgery
    that does not decode)."""
    if not isinstance(value, str) or not value.startswith(SIGNATURE_PREFIX):
        return None
    parts = value[len(SIGNATURE_PREFIX) :].split(".")
    if len(parts) not in (2, 3):
        return None
    if len(parts) == 2:
        return Signed(parts[0])
    try:
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        carried = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return Signed(parts[0], carried)


def is_gateway_signature(value: Any) -> bool:
    """True for a signature this gateway made (in any of its formats): no Anthropic model accepts one."""
    return isinstance(value, str) and value.startswith(_GATEWAY_PREFIXES)


# --- Responses API reasoning -------------------------------------------------------------------------------


def _model_tag(upstream_model: str) -> str:
    return hashlib.sha256(upstream_model.encode("utf-8")).hexdigest()[:8]


def encode_signature(encrypted: str, upstream_model: str) -> str:
    """The thinking signature carrying a reasoning item's `encrypted_content` for `upstream_model`."""
    return f"{REASONING_SIGNATURE_PREFIX}{_model_tag(upstream_model)}.{encrypted}"


def decode_signature(value: Any, upstream_model: str) -> str | None:
    """The encrypted reasoning in a signature we made for `upstream_model`; None for any other signature."""
    if not isinstance(value, str) or not value.startswith(REASONING_SIGNATURE_PREFIX):
        return None
    tag, _, encrypted = value[len(REASONING_SIGNATURE_PREFIX) :].partition(".")
    return encrypted if encrypted and tag == _model_tag(upstream_model) else None
