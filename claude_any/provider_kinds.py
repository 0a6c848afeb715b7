"""Every provider kind, declared once: its settings, its wire protocol, its request template.

The compiler reads a kind's settings from here (which are required, which are credentials, how each is
checked and normalised); the runtime and `explain` both take a target's wire protocol from `protocol_for` and
its URL, headers and fixed body fields from the kind's template (`provider_templates.py`, `templates/*.j2`),
so what `explain` describes is what the runtime sends. A config may bring its own kind as a template file
(`kind: template`), for a gateway whose URL or auth no built-in kind knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# The wire protocols the gateway speaks to a provider's URL.
CHAT = "chat"  # OpenAI Chat Completions, translated both ways
RESPONSES = "responses"  # the OpenAI Responses API, translated both ways
ANTHROPIC = "anthropic"  # Anthropic Messages: the client's body passed through, `model` replaced
PROTOCOLS = (CHAT, RESPONSES, ANTHROPIC)

# Chat Completions token fields (a capability row may set its own).
MAX_COMPLETION_TOKENS = "max_completion_tokens"
MAX_TOKENS = "max_tokens"

# Setting names that hold credentials in a `kind: template` provider's own settings (shown redacted).
_SECRET_NAME = re.compile(r"key|token|secret|password|credential", re.I)


class Form(Enum):
    """How the compiler checks and normalises a setting's value (compiler/providers.py)."""

    TEXT = "text"
    SECRET = "secret"  # a credential: a `${VAR}` is expected, a literal one is a warning; shown redacted
    BASE_URL = "base_url"  # http(s)://host[:port][/path], trailing slash dropped
    SERVICE_URL = "service_url"  # host or https://host[:port]; a known API path after it is dropped
    API_VERSION = "api_version"  # an Azure api-version


@dataclass(frozen=True)
class Setting:
    """One key a provider of some kind takes (`providers.<name>.<key>`)."""

    name: str
    form: Form = Form.TEXT
    required: bool = False
    default: str | None = None
    required_without: str | None = None  # required unless this other setting is written
    variable: str | None = None  # SECRET: the variable to use, for a provider named after its kind
    known_paths: tuple[str, ...] = ()  # SERVICE_URL: API paths users paste after the host (dropped)
    example: str = ""  # a valid value, for error messages


@dataclass(frozen=True)
class ProviderKind:
    """What a provider of this kind takes and how the gateway talks to it."""

    name: str
    settings: tuple[Setting, ...]
    template: str | None  # templates/<file>; None: the provider brings its own (`template:`)
    apis: tuple[str, ...] = (CHAT,)  # what `api:` may choose; the first is the default
    protocol: str | None = None  # a fixed wire protocol, whatever `api:` says
    anthropic_models: str | None = None  # models with this prefix are served on an Anthropic surface
    in_process: bool = False  # answered inside the gateway (runtime/echo.py); nothing goes on the wire
    token_param: str = MAX_TOKENS  # the Chat Completions token field, unless the model's row says
    pdf_parts: bool = False  # takes PDF `file` parts on Chat Completions
    deployments: bool = False  # model names are the user's own deployment names (say `base_model`)
    own_settings: bool = False  # settings are the provider's own `settings:` map (`kind: template`)

    def setting(self, name: str) -> Setting | None:
        """The declared setting called `name`, if any."""
        return next((s for s in self.settings if s.name == name), None)

    def is_secret(self, name: str) -> bool:
        """Whether setting `name` holds a credential (shown only as its `${VAR}` reference, or ***)."""
        declared = self.setting(name)
        if declared is not None:
            return declared.form is Form.SECRET
        return self.own_settings and _SECRET_NAME.search(name) is not None


_OPENAI_URL = "https://api.openai.com/v1"
_AZURE_EXAMPLE = "https://NAME.openai.azure.com"
_DATABRICKS_EXAMPLE = "https://adb-123.4.azuredatabricks.net"

KINDS: dict[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        # OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio, OpenRouter, ...).
        ProviderKind(
            "openai",
            (
                Setting("api_key", Form.SECRET, required_without="base_url", variable="OPENAI_API_KEY"),
                Setting("base_url", Form.BASE_URL, default=_OPENAI_URL, example=_OPENAI_URL),
                Setting("organization"),
            ),
            template="openai.j2",
            apis=(CHAT, RESPONSES),
            token_param=MAX_COMPLETION_TOKENS,
            pdf_parts=True,
        ),
        ProviderKind(
            "azure",
            (
                Setting("api_key", Form.SECRET, required=True, variable="AZURE_OPENAI_API_KEY"),
                Setting(
                    "endpoint",
                    Form.SERVICE_URL,
                    required=True,
                    known_paths=("/openai", "/openai/v1"),
                    example=_AZURE_EXAMPLE,
                ),
                Setting("api_version", Form.API_VERSION, required=True),
            ),
            template="azure.j2",
            apis=(CHAT, RESPONSES),
            token_param=MAX_COMPLETION_TOKENS,
            deployments=True,
        ),
        ProviderKind(
            "databricks",
            (
                Setting("token", Form.SECRET, required=True, variable="DATABRICKS_TOKEN"),
                Setting(
                    "host",
                    Form.SERVICE_URL,
                    required=True,
                    known_paths=("/serving-endpoints",),
                    example=_DATABRICKS_EXAMPLE,
                ),
            ),
            template="databricks.j2",
            apis=(CHAT, RESPONSES),
            anthropic_models="databricks-claude-",
        ),
        ProviderKind(
            "anthropic",
            (
                Setting("api_key", Form.SECRET, required=True, variable="ANTHROPIC_API_KEY"),
                Setting("base_url", Form.BASE_URL, default="https://api.anthropic.com"),
            ),
            template="anthropic.j2",
            protocol=ANTHROPIC,
        ),
        # In-process: an Anthropic Messages server inside the gateway, so no key and no network.
        ProviderKind("echo", (), template="echo.j2", protocol=ANTHROPIC, in_process=True),
        # The config's own kind: its template file says the URL, headers and body; `api:` the protocol.
        ProviderKind(
            "template",
            (),
            template=None,
            apis=(CHAT, RESPONSES, ANTHROPIC),
            token_param=MAX_COMPLETION_TOKENS,
            own_settings=True,
        ),
    )
}


class UnknownKind(KeyError):
    """A routes.json names a provider kind this version does not know."""

    def __str__(self) -> str:
        return f"unknown provider kind {self.args[0]!r} (expected one of {', '.join(KINDS)})"


def kind_named(name: str) -> ProviderKind:
    """The declaration of kind `name`; raises UnknownKind."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(name) from None


def api_for(kind: ProviderKind, configured: str | None, responses_only: bool) -> str:
    """The API a target uses: `configured` (the provider's `api:` as written) when given, else the Responses
    API for a Responses-only model on a kind that has it, else the kind's default."""
    if configured in kind.apis:
        return configured
    if responses_only and RESPONSES in kind.apis:
        return RESPONSES
    return kind.apis[0]


def settled_api(kind: ProviderKind, provider_api: str, target_api: str, responses_only: bool) -> str:
    """The API a target of routes.json uses: its own, or its provider's, where either chose one (a routes.json
    written before targets recorded theirs has it only on the provider); else as `api_for` picks by model."""
    configured = next((api for api in (target_api, provider_api) if api != kind.apis[0]), None)
    return api_for(kind, configured, responses_only)


def protocol_for(kind: ProviderKind, api: str, model: str) -> str:
    """The wire protocol a target of this kind speaks: the kind's own, the Anthropic surface for its
    Anthropic models, else the target's API."""
    if kind.protocol is not None:
        return kind.protocol
    if kind.anthropic_models is not None and model.startswith(kind.anthropic_models):
        return ANTHROPIC
    return api if api in kind.apis else kind.apis[0]
