"""Offline estimate of the input tokens of an Anthropic Messages request.

Exact tokenizers are not available offline (tiktoken downloads its BPE files on first use), so the text is
measured with a linear model over cheap character-class counts: letter runs (≈ words), letters, lower→upper
case changes (camelCase, base64), digits and digit runs (cl100k splits numbers into groups of three),
punctuation and punctuation runs, newlines and non-ASCII bytes (CJK is about one token per character).
Every count is one C-level `bytes.translate`/`bytes.count` (linear, no regex, nothing to backtrack).
Claude Code re-sends its system prompt, tools and the whole conversation on every turn, so counts are
memoised by text: a 50 KB first request takes about 1 ms the first time and 0.15 ms once seen, a 250 KB
conversation 0.35 ms instead of 4 ms (bench/run.py repeats one request, so it always sees the warm case).

Accuracy: the weights were fitted against cl100k_base on English prose, Markdown, Python/JS/Rust source,
JSON schemas and Claude Code prompts. On 3,000-character chunks the estimate is within ±10% of cl100k for
90% of prose, code and JSON chunks (worst seen ±14%), mean bias within ±4%; CJK and accented text within
±10%; random identifiers (hex, base64) within ±20%. Claude's own tokenizer counts somewhat more than
cl100k, so callers that must not under-count (count_tokens, compaction) should add their own margin.

Structure: tools cost their name, description and JSON schema plus a small wrapper; each message and
content block a few tokens of framing; images (w*h)/750 after Anthropic's downscaling, or 1,600 when the
size cannot be read from the header bytes; PDFs a rough per-page figure derived from their size.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
import threading
from typing import Any

from claude_any.runtime.memo import LRU, JSONMemo

# Character classes, one translation table per feature family (bytes >= 0x80 are never letters or digits).
_LETTERS = bytes(ord("a") if 97 <= c <= 122 else ord("A") if 65 <= c <= 90 else ord("x") for c in range(256))
_DIGITS = bytes(ord("0") if 48 <= c <= 57 else ord("x") for c in range(256))
_PUNCT = bytes(
    ord(".") if c < 128 and not chr(c).isalnum() and not chr(c).isspace() else ord("x") for c in range(256)
)
_ASCII = bytes(range(128))

# Weights fitted by non-negative least squares on relative error (see the module docstring).
_W_WORD = 0.79
_W_LETTER = 0.053
_W_CAMEL = 1.38
_W_DIGIT = 0.31
_W_NUMBER = 1.0
_W_PUNCT = 0.29
_W_PUNCT_RUN = 0.5
_W_NEWLINE = 0.59
_W_NON_ASCII_BYTE = 0.353

# Framing, in tokens: what the chat template adds around each piece.
_PER_REQUEST = 3
_PER_MESSAGE = 4
_PER_BLOCK = 2
_PER_TOOL = 8
_TOOLS_PREAMBLE = 20  # instructions the provider adds once when any tool is defined

# Images: Anthropic scales images to fit 1568 px on the long edge and about 1.15 megapixels.
IMAGE_FALLBACK_TOKENS = 1_600
_IMAGE_MAX_EDGE = 1568
_IMAGE_MAX_PIXELS = 1_150_000
_IMAGE_PIXELS_PER_TOKEN = 750
_HEADER_B64_CHARS = 64 * 1024  # enough for a JPEG's EXIF block before the frame header

# PDFs: each page is sent as text plus a page image; a text PDF page averages ~75 KB on disk.
_PDF_PAGE_BYTES = 75_000
_PDF_PAGE_TOKENS = 2_100


# Feature counts of one text, in the order of the weights in `_weigh`: words, letters, camel, digits, numbers,
# punctuation, punctuation runs, newlines, non-ASCII bytes. Integers, so sums of them are exact.
Features = tuple[int, int, int, int, int, int, int, int, int]


def _features(text: str) -> Features:
    raw = text.encode("utf-8", "surrogatepass")
    cls = raw.translate(_LETTERS)
    letters = len(raw) - cls.count(b"x")
    words = cls.count(b"xa") + cls.count(b"xA") + (1 if cls[:1] in (b"a", b"A") else 0)
    camel = cls.count(b"aA")
    cls = raw.translate(_DIGITS)
    digits = cls.count(b"0")
    numbers = (cls.count(b"x0") + (1 if cls[:1] == b"0" else 0)) if digits else 0
    cls = raw.translate(_PUNCT)
    punct = cls.count(b".")
    punct_runs = (cls.count(b"x.") + (1 if cls[:1] == b"." else 0)) if punct else 0
    newlines = raw.count(b"\n")
    non_ascii = 0 if text.isascii() else len(raw.translate(None, _ASCII))
    return (words, letters, camel, digits, numbers, punct, punct_runs, newlines, non_ascii)


def _weigh(f: Features) -> int:
    estimate = (
        _W_WORD * f[0]
        + _W_LETTER * f[1]
        + _W_CAMEL * f[2]
        + _W_DIGIT * f[3]
        + _W_NUMBER * f[4]
        + _W_PUNCT * f[5]
        + _W_PUNCT_RUN * f[6]
        + _W_NEWLINE * f[7]
        + _W_NON_ASCII_BYTE * f[8]
    )
    return max(1, round(estimate))


def count_text(text: str) -> int:
    """Estimated cl100k-style token count of a piece of text."""
    if not text:
        return 0
    return _weigh(_features(text))


class _FeatureMemo:
    """Feature counts of long texts by text, least recently used first out, bounded in total characters.

    Claude Code re-sends the whole conversation on every turn, so all but the newest messages were counted
    before; without this, a long session pays for counting its entire history again on every request.
    """

    MIN_CHARS = 512  # shorter texts are counted together in one pass, which is cheaper than a lookup
    MAX_CHARS = 1_000_000  # longer ones are counted, not kept
    BUDGET_CHARS = 4_000_000  # the strings are kept alive as keys: a few MB at most

    def __init__(self) -> None:
        self._counts: dict[str, Features] = {}
        self._chars = 0
        # The event loop and the large-body worker thread (runtime/serve/offload.py) both count; counting
        # itself runs unlocked.
        self._lock = threading.Lock()

    def get(self, text: str) -> Features:
        with self._lock:
            counts = self._counts.pop(text, None)
            if counts is not None:
                self._counts[text] = counts  # reinserted last: most recently used
                return counts
        counts = _features(text)
        if len(text) > self.MAX_CHARS:
            return counts
        with self._lock:
            if self._counts.pop(text, None) is None:  # another thread may have counted it meanwhile
                self._chars += len(text)
            self._counts[text] = counts
            while self._chars > self.BUDGET_CHARS and self._counts:
                oldest = next(iter(self._counts))
                del self._counts[oldest]
                self._chars -= len(oldest)
        return counts


_MEMO = _FeatureMemo()


def _count_repeated(text: str) -> int:
    """`count_text(text)` for a system prompt: they repeat verbatim on every request of a session (that is
    what makes prompt caching work), so a long one's counts come from the memo, within its budget."""
    if len(text) < _FeatureMemo.MIN_CHARS:
        return count_text(text)
    return _weigh(_MEMO.get(text))


def count_joined(texts: list[str]) -> int:
    """`count_text("\n".join(texts))`, exactly, with the long pieces' counts memoised.

    Exact because every feature is additive across a newline: a newline is neither a letter, a digit nor
    punctuation, so no word, number, camel hump or punctuation run spans two pieces; the joining newlines
    are added back, and the weights are applied once to the integer sums.
    """
    if not texts or (len(texts) == 1 and not texts[0]):
        return 0
    counts: list[Features] = []
    short: list[str] = []
    for text in texts:
        if len(text) < _FeatureMemo.MIN_CHARS:
            short.append(text)
            continue
        if short:
            counts.append(_features("\n".join(short)))
            short = []
        counts.append(_MEMO.get(text))
    if short:
        counts.append(_features("\n".join(short)))
    sums = [sum(column) for column in zip(*counts, strict=True)]
    sums[7] += len(counts) - 1  # the newlines that joined the segments
    return _weigh((sums[0], sums[1], sums[2], sums[3], sums[4], sums[5], sums[6], sums[7], sums[8]))


def estimate(body: Any) -> int:
    """Estimated input tokens of an Anthropic Messages (or count_tokens) request body; 0 for a non-dict."""
    if not isinstance(body, dict):
        return 0
    acc = _Accumulator()
    acc.content(body.get("system"))
    acc.seal()
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            acc.fixed += _PER_MESSAGE
            if isinstance(message, dict):
                acc.content(message.get("content"))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        acc.fixed += _TOOLS_PREAMBLE
        for tool in tools:
            acc.tool(tool)
    return _PER_REQUEST + acc.total()


class _Accumulator:
    """Collects text pieces (measured once, joined) and fixed token costs (framing, images)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.fixed = 0

    def seal(self) -> None:
        """Count what has been collected so far as a repeated piece (the system prompt)."""
        if self.texts:
            self.fixed += _count_repeated("\n".join(self.texts))
            self.texts.clear()

    def total(self) -> int:
        return self.fixed + count_joined(self.texts)

    def content(self, content: Any) -> None:
        """A `system` or message `content`: a string or a list of blocks."""
        if isinstance(content, str):
            self.texts.append(content)
        elif isinstance(content, list):
            for block in content:
                self.block(block)

    def block(self, block: Any) -> None:
        if isinstance(block, str):
            self.texts.append(block)
            return
        if not isinstance(block, dict):
            return
        self.fixed += _PER_BLOCK
        kind = block.get("type")
        if kind == "text":
            self.string(block.get("text"))
        elif kind == "image":
            self.fixed += image_tokens(block.get("source"))
        elif kind == "document":
            self.document(block.get("source"))
        elif kind in ("tool_use", "server_tool_use"):
            self.string(block.get("name"))
            self.json(block.get("input"))
        elif isinstance(kind, str) and kind.endswith("tool_result"):  # also web_search_tool_result, …
            self.content(block.get("content"))
        elif kind == "thinking":
            self.string(block.get("thinking"))
        elif kind == "redacted_thinking":
            data = block.get("data")
            # Opaque ciphertext: roughly what its decoded size would tokenize to.
            self.fixed += len(data) // 4 if isinstance(data, str) else 0
        else:
            # Unknown block types are still sent somewhere; count their JSON so they are not free.
            self.json({k: v for k, v in block.items() if k not in ("type", "cache_control")})

    def tool(self, tool: Any) -> None:
        if isinstance(tool, dict):
            self.fixed += _tool_tokens(tool)

    def document(self, source: Any) -> None:
        if not isinstance(source, dict):
            self.fixed += IMAGE_FALLBACK_TOKENS
            return
        kind = source.get("type")
        data = source.get("data")
        if kind == "text" and isinstance(data, str):
            self.texts.append(data)
        elif kind == "content":
            self.content(source.get("content"))
        elif kind == "base64" and isinstance(data, str):
            pages = max(1, math.ceil(len(data) * 3 / 4 / _PDF_PAGE_BYTES))
            self.fixed += pages * _PDF_PAGE_TOKENS
        else:
            self.fixed += _PDF_PAGE_TOKENS

    def string(self, value: Any) -> None:
        if isinstance(value, str):
            self.texts.append(value)

    def json(self, value: Any) -> None:
        try:
            self.texts.append(json.dumps(value, ensure_ascii=False))
        except (TypeError, ValueError):  # not JSON-serialisable: cannot come from a parsed request
            return


def _count_tool(tool: dict[str, Any]) -> int:
    parts = _Accumulator()
    parts.string(tool.get("name"))
    parts.string(tool.get("description"))
    schema = tool.get("input_schema")
    if schema is not None:
        parts.json(schema)
    elif "type" in tool:
        # Server tools (web_search_…) have no schema; their settings still reach the model.
        parts.json({k: v for k, v in tool.items() if k not in ("name", "cache_control")})
    parts.seal()
    return _PER_TOOL + parts.fixed


# The same tool definitions come with every request of a session: counted once per distinct definition.
_tool_tokens: JSONMemo[int] = JSONMemo(_count_tool)


# ---------------------------------------------------------------------------------------------------------
# Sessions: what the provider really counted


class SessionScale:
    """Per Claude Code session (`x-claude-code-session-id`), how the provider's count of a request's input
    compares with the estimate: the ratio of its last turn, so the next estimates of that session (the
    `tokens` fact, count_tokens) come out in the provider's tokens, and Claude Code's context meter and
    compaction see the window where the provider's really ends.

    Bounded: the most recently seen `max_sessions` sessions; ratios are kept within [LOWEST, HIGHEST], so a
    provider that reports nonsense (or nothing useful) cannot make the estimate absurd.
    """

    LOWEST = 0.5
    HIGHEST = 2.0
    MIN_ESTIMATE = 1_000  # below this a request is mostly framing: its ratio says little about the window
    MAX_SESSION_ID_CHARS = 128  # Claude Code's ids are UUIDs (36 characters)
    MAX_SESSIONS = 1024

    def __init__(self, max_sessions: int | None = None) -> None:
        entries = self.MAX_SESSIONS if max_sessions is None else max_sessions
        self._ratios: LRU[str, float] = LRU(entries, entries * self.MAX_SESSION_ID_CHARS, len)

    def scale(self, session: str, estimate: int) -> int:
        """`estimate` in the provider's tokens for this session; unchanged for an unknown or empty one."""
        ratio = self._ratios.get(session) if session else None
        return estimate if ratio is None else round(estimate * ratio)

    def learn(self, session: str, estimate: int, counted: int | None) -> None:
        """The provider counted `counted` input tokens (cache reads and writes included) for a request of
        `session` whose unscaled estimate was `estimate`."""
        if not session or len(session) > self.MAX_SESSION_ID_CHARS or counted is None or counted <= 0:
            return
        if estimate < self.MIN_ESTIMATE:
            return
        ratio = min(max(counted / estimate, self.LOWEST), self.HIGHEST)
        self._ratios.put(session, ratio)

    def ratio(self, session: str) -> float | None:
        """The ratio kept for `session` (None when none is), for explain and tests."""
        return self._ratios.get(session)

    def __len__(self) -> int:
        return len(self._ratios)


# ---------------------------------------------------------------------------------------------------------
# Images


def image_tokens(source: Any) -> int:
    """Tokens of an image source: (w*h)/750 after Anthropic's downscaling, 1,600 when the size is unknown."""
    size = image_size(source)
    if size is None:
        return IMAGE_FALLBACK_TOKENS
    width, height = size
    if width <= 0 or height <= 0:
        return IMAGE_FALLBACK_TOKENS
    scale = min(1.0, _IMAGE_MAX_EDGE / max(width, height), math.sqrt(_IMAGE_MAX_PIXELS / (width * height)))
    return max(1, math.ceil(width * scale * height * scale / _IMAGE_PIXELS_PER_TOKEN))


def image_size(source: Any) -> tuple[int, int] | None:
    """(width, height) read from the header bytes of a base64 PNG, JPEG, GIF or WebP source, else None."""
    if not isinstance(source, dict) or source.get("type") != "base64":
        return None
    data = source.get("data")
    if not isinstance(data, str):
        return None
    prefix = data[:_HEADER_B64_CHARS]
    prefix = prefix[: len(prefix) - len(prefix) % 4]
    try:
        head = base64.b64decode(prefix, validate=False)
    except (binascii.Error, ValueError):
        return None
    return _png(head) or _gif(head) or _webp(head) or _jpeg(head)


def _png(head: bytes) -> tuple[int, int] | None:
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _gif(head: bytes) -> tuple[int, int] | None:
    if head[:6] not in (b"GIF87a", b"GIF89a") or len(head) < 10:
        return None
    width, height = struct.unpack("<HH", head[6:10])
    return int(width), int(height)


def _webp(head: bytes) -> tuple[int, int] | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame start code
        width, height = struct.unpack("<HH", head[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14-bit width-1 and height-1, bit-packed after the 0x2f signature
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit width-1 and height-1
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(head: bytes) -> tuple[int, int] | None:
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    # Walk the segments by their lengths; a bounded loop over at most _HEADER_B64_CHARS bytes.
    while i + 9 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return int(width), int(height)
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if length < 2:
            return None
        i += 2 + int(length)
    return None
