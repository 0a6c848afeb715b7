"""Offline fakes of the identity services `auth: entra` (Azure) and `auth: oauth` (Databricks) talk to.

- `FakeAzureCli`: an `az` executable put first on PATH that answers `az account get-access-token --output
  json --resource …` the way the Azure CLI does (azure-identity's AzureCliCredential runs exactly that),
  handing out scripted tokens or failing like a CLI nobody logged in to. `AZURE_TOKEN_CREDENTIALS` narrows
  azure-identity's default chain to it, so no test reaches for a real managed identity.
- `DatabricksWorkspace`: a `FakeUpstream` responder that is a Databricks workspace's OAuth side - host
  metadata (`/.well-known/databricks-config`), OIDC discovery (`/oidc/.well-known/oauth-authorization-server`)
  and the client-credentials token endpoint (`/oidc/v1/token`) - and hands every other request (the serving
  endpoints) to another responder.
- `AppServiceIdentity`: a `FakeUpstream` responder that is the managed identity endpoint azure-identity
  calls on App Service (`IDENTITY_ENDPOINT`), for user-assigned identities (`client_id`).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from loopback import Recorded, Reply

ENTRA_RESOURCE = "https://cognitiveservices.azure.com"


class FakeAzureCli:
    """An `az` on PATH. Each call takes the next scripted reply (the last one repeats): a token, or the
    error text a logged-out CLI prints. Every call's arguments are recorded."""

    NOT_LOGGED_IN = "ERROR: Please run 'az login' to setup account."

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._state = directory / "az-state.json"
        self._calls = directory / "az-calls.jsonl"
        self.delay = 0.0
        self.hand_out(("token-1", time.time() + 3600))
        script = directory / "az"
        script.write_text(_AZ_SCRIPT.format(python=sys.executable, state=self._state, calls=self._calls))
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{directory}:{_environ_path()}")
        monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")

    def hand_out(self, *tokens: tuple[str, float] | str) -> None:
        """The replies of the next calls: (token, expires_on epoch seconds), or an error text to fail with."""
        replies = [
            {"error": t} if isinstance(t, str) else {"token": t[0], "expires_on": int(t[1])} for t in tokens
        ]
        self._state.write_text(json.dumps({"replies": replies, "delay": self.delay}))

    def log_out(self) -> None:
        self.hand_out(self.NOT_LOGGED_IN)

    @property
    def calls(self) -> list[list[str]]:
        if not self._calls.exists():
            return []
        return [json.loads(line) for line in self._calls.read_text().splitlines()]


def _environ_path() -> str:
    import os

    return os.environ.get("PATH", "")


_AZ_SCRIPT = """#!{python}
import json, sys, time
with open("{calls}", "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
with open("{state}") as fh:
    state = json.load(fh)
time.sleep(state["delay"])
replies = state["replies"]
reply = replies.pop(0) if len(replies) > 1 else replies[0]
with open("{state}", "w") as fh:
    json.dump(state, fh)
if "error" in reply:
    sys.stderr.write(reply["error"] + "\\n")
    sys.exit(1)
expires = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(reply["expires_on"]))
print(json.dumps({{"accessToken": reply["token"], "expiresOn": expires, "expires_on": reply["expires_on"],
                  "subscription": "sub", "tenant": "tenant", "tokenType": "Bearer"}}))
"""


def _form(recorded: Recorded) -> dict[str, str]:
    body = recorded.body if isinstance(recorded.body, str) else ""
    return {k: v[0] for k, v in parse_qs(body).items()}


class DatabricksWorkspace:
    """The OAuth endpoints of a workspace at `url`: client-credentials grants for one client id and secret,
    each answered with a new token (`dbx-oauth-1`, `-2`, …) valid `expires_in` seconds. Other requests go to
    `serving` (the serving endpoints' fake)."""

    def __init__(
        self,
        url: str,
        serving: Callable[[Recorded], Reply],
        client_id: str = "sp-client-id",
        client_secret: str = "sp-client-secret",
    ) -> None:
        self.url, self.serving = url, serving
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_in = 3600
        self.issued: list[str] = []

    def __call__(self, recorded: Recorded) -> Reply:
        if recorded.path == "/.well-known/databricks-config":
            return Reply(json={"oidc_endpoint": f"{self.url}/oidc", "workspace_id": "1234567890"})
        if recorded.path == "/oidc/.well-known/oauth-authorization-server":
            return Reply(
                json={
                    "issuer": f"{self.url}/oidc",
                    "authorization_endpoint": f"{self.url}/oidc/v1/authorize",
                    "token_endpoint": f"{self.url}/oidc/v1/token",
                }
            )
        if recorded.path == "/oidc/v1/token":
            return self._token(recorded)
        return self.serving(recorded)

    def _token(self, recorded: Recorded) -> Reply:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = _form(recorded)
        if recorded.headers.get("authorization") != f"Basic {expected}":
            return Reply(
                401, json={"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if form.get("grant_type") != "client_credentials":
            return Reply(400, json={"error": "unsupported_grant_type"})
        token = f"dbx-oauth-{len(self.issued) + 1}"
        self.issued.append(token)
        return Reply(json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})

    def token_requests(self, recorded: list[Recorded]) -> int:
        return sum(1 for r in recorded if r.path == "/oidc/v1/token")


class AppServiceIdentity:
    """The App Service managed identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) at `path`: hands
    out `msi-<client_id or system>` tokens for the requested resource, and other requests to `serving`."""

    HEADER = "fake-identity-header"

    def __init__(self, path: str, serving: Callable[[Recorded], Reply]) -> None:
        self.path, self.serving = path, serving
        self.asked: list[dict[str, Any]] = []

    def __call__(self, recorded: Recorded) -> Reply:
        if recorded.path != self.path:
            return self.serving(recorded)
        query = {k: v[0] for k, v in parse_qs(recorded.query).items()}
        self.asked.append(query)
        if recorded.headers.get("x-identity-header") != self.HEADER:
            return Reply(401, json={"error": "bad identity header"})
        who = query.get("client_id", "system")
        return Reply(
            json={
                "access_token": f"msi-{who}",
                "expires_on": str(int(time.time()) + 3600),
                "resource": query.get("resource"),
                "token_type": "Bearer",
            }
        )
