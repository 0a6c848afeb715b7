"""Test certificates (a throwaway trustme CA issuing for 127.0.0.1 and localhost) and TLS test servers.

- `Certificates.make(directory)`: the CA and a server certificate, also written as PEM files (uvicorn and
  SSL_CERT_FILE need paths).
- `TLSThreadServer`: `loopback.ThreadServer` with uvicorn serving HTTPS with that certificate.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from loopback import ThreadServer


@dataclass(frozen=True)
class Certificates:
    ca: trustme.CA
    server: trustme.LeafCert
    ca_file: Path  # the CA certificate: what a client trusts (SSL_CERT_FILE)
    cert_file: Path  # the server's certificate chain
    key_file: Path  # the server's private key

    @staticmethod
    def make(directory: Path) -> Certificates:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        ca_file, cert_file, key_file = (
            directory / "ca.pem",
            directory / "server.pem",
            directory / "server.key",
        )
        ca.cert_pem.write_to_path(str(ca_file))
        cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
        server.private_key_pem.write_to_path(str(key_file))
        return Certificates(ca, server, ca_file, cert_file, key_file)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate (for asyncio servers in the tests)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        return context


class TLSThreadServer(ThreadServer):
    """uvicorn serving `app` over HTTPS on a free 127.0.0.1 port from a background thread."""

    def __init__(self, app: Any, certificates: Certificates) -> None:
        super().__init__(app)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ssl_certfile=str(certificates.cert_file),
            ssl_keyfile=str(certificates.key_file),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self.url = f"https://127.0.0.1:{self.port}"
