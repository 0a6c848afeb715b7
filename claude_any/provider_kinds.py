"""Every provider kind, declared once: its settings, its wire protocol, its request template.

The compiler reads a kind's settings from here (which are required, which are credentials, how each is
checked and normalised); the runtime and `explain` both take a target's wire protocol from `protocol_for` and
its URL, headers and fixed body fields from the kind's template (`provider_templates.py`, `templates/*.j2`),
so what `explain` describes is what the runtime sends. A config may bring its own kind as a template file
(`kind: template`), for a gateway whose URL or auth no built-in kind knows.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

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
    AUTH = "auth"  # how the provider authenticates: the name of one of its kind's `auths`


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
class Auth:
    """One way a provider of some kind authenticates (`auth:`); a kind's first is the default.

    A key is sent as the kind's template says. An identity (`identity` set) is a token an identity library
    fetches at run time and keeps fresh (runtime/call/credentials.py); it is sent as `Authorization: Bearer`,
    per request, and the template sends no key.
    """

    name: str
    settings: tuple[str, ...] = ()  # the kind's settings this way uses; the other auths' are refused
    required: tuple[str, ...] = ()
    together: tuple[str, ...] = ()  # settings given both or neither
    identity: str | None = None  # the token source (runtime/call/credentials.py); None: a key in the template
    extra: str = ""  # the pip extra that installs the identity library
    modules: tuple[str, ...] = ()  # what must be importable for it
    description: str = ""  # what explain and doctor call it
    login: str = ""  # what to do when no credential can be had (`{host}`: the provider's host)

    def missing_library(self) -> str | None:
        """`pip install ...` for the identity library when it is not installed, else None."""
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError:
                return f"pip install 'claude-any[{self.extra}]'"
        return None


@dataclass(frozen=True)
class ProviderKind:
    """What a provider of this kind takes and how the gateway talks to it."""

    name: str
    settings: tuple[Setting, ...]
    template: str | None  # templates/<file>; None: the provider brings its own (`template:`)
    apis: tuple[str, ...] = (CHAT,)  # what `api:` may choose; the first is the default
    protocol: str | None = None  # a fixed wire protocol, whatever `api:` says
    anthropic_models: str | None = None  # models with this prefix are served on an Anthropic surface
    in_process: bool = False  # answered inside the gateway (runtime/call/echo.py); nothing goes on the wire
    token_param: str = MAX_TOKENS  # the Chat Completions token field, unless the model's row says
    pdf_parts: bool = False  # takes PDF `file` parts on Chat Completions
    prompt_cache_key: bool = False  # its OpenAI models take `prompt_cache_key` (capabilities.py)
    deployments: bool = False  # model names are the user's own deployment names (say `base_model`)
    own_settings: bool = False  # settings are the provider's own `settings:` map (`kind: template`)
    auths: tuple[Auth, ...] = ()  # the ways `auth:` may choose (a kind without any has one, its template's)

    def setting(self, name: str) -> Setting | None:
        """The declared setting called `name`, if any."""
        return next((s for s in self.settings if s.name == name), None)

    def is_secret(self, name: str) -> bool:
        """Whether setting `name` holds a credential (shown only as its `${VAR}` reference, or ***)."""
        declared = self.setting(name)
        if declared is not None:
            return declared.form is Form.SECRET
        return self.own_settings and _SECRET_NAME.search(name) is not None

    def auth_for(self, settings: Mapping[str, Any]) -> Auth | None:
        """The auth a provider's settings choose (`auth:`, else the kind's default); None for a kind that
        declares none or a name it does not know (the compiler refuses those)."""
        if not self.auths:
            return None
        name = settings.get("auth") or self.auths[0].name
        return next((auth for auth in self.auths if auth.name == name), None)


_OPENAI_URL = "https://api.openai.com/v1"
_AZURE_EXAMPLE = "https://NAME.openai.azure.com"
_DATABRICKS_EXAMPLE = "https://adb-123.4.azuredatabricks.net"

# Entra ID tokens for Azure OpenAI: azure-identity's default chain (environment service principal, workload
# identity, managed identity, Azure CLI ...), for the Cognitive Services scope. Its async credentials run
# on aiohttp.
AZURE_ENTRA = Auth(
    "entra",
    settings=("client_id",),
    identity="azure-identity",
    extra="azure",
    modules=("azure.identity.aio", "aiohttp"),
    description="Entra ID token via azure-identity",
    login="run `az login` (or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service "
    "principal; on Azure, give the host a managed identity, with client_id for a user-assigned one)",
)
# Databricks unified auth through the Databricks SDK: OAuth M2M (client id and secret), a profile of
# ~/.databrickscfg, the Azure CLI on Azure Databricks.
DATABRICKS_OAUTH = Auth(
    "oauth",
    settings=("client_id", "client_secret", "profile"),
    together=("client_id", "client_secret"),
    identity="databricks-sdk",
    extra="databricks",
    modules=("databricks.sdk",),
    description="OAuth token via the Databricks SDK",
    login="run `databricks auth login --host {host}` and name its profile (profile: NAME), or set "
    "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET for a service principal (or `az login` on Azure "
    "Databricks)",
)

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
            prompt_cache_key=True,
        ),
        ProviderKind(
            "azure",
            (
                Setting("api_key", Form.SECRET, variable="AZURE_OPENAI_API_KEY"),
                Setting(
                    "endpoint",
                    Form.SERVICE_URL,
                    required=True,
                    known_paths=("/openai", "/openai/v1"),
                    example=_AZURE_EXAMPLE,
                ),
                Setting("api_version", Form.API_VERSION, required=True),
                Setting("auth", Form.AUTH, default="key"),
                Setting("client_id"),  # a user-assigned managed identity's
            ),
            template="azure.j2",
            apis=(CHAT, RESPONSES),
            token_param=MAX_COMPLETION_TOKENS,
            prompt_cache_key=True,
            deployments=True,
            auths=(
                Auth("key", settings=("api_key",), required=("api_key",), description="api-key header"),
                AZURE_ENTRA,
            ),
        ),
        ProviderKind(
            "databricks",
            (
                Setting("token", Form.SECRET, variable="DATABRICKS_TOKEN"),
                Setting(
                    "host",
                    Form.SERVICE_URL,
                    required=True,
                    known_paths=("/serving-endpoints",),
                    example=_DATABRICKS_EXAMPLE,
                ),
                Setting("auth", Form.AUTH, default="pat"),
                Setting("client_id"),
                Setting("client_secret", Form.SECRET, variable="DATABRICKS_CLIENT_SECRET"),
                Setting("profile"),  # a profile of ~/.databrickscfg
            ),
            template="databricks.j2",
            apis=(CHAT, RESPONSES),
            anthropic_models="databricks-claude-",
            auths=(
                Auth(
                    "pat",
                    settings=("token",),
                    required=("token",),
                    description="Bearer personal access token",
                ),
                DATABRICKS_OAUTH,
            ),
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
