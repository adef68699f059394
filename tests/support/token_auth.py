"""A token server for Distribution's token auth, on loopback: what Docker Hub and GHCR do.

The registry answers `/v2/` with `WWW-Authenticate: Bearer realm=...,service=...`; a client
asks the realm for a token with its credentials (HTTP Basic) and retries with the token. The
tokens are JWTs signed (ES256) with a CA key, the CA's certificate in their `x5c` header; the
registry trusts tokens whose chain ends in its `rootcertbundle`.
"""

import base64
import fnmatch
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509 import load_pem_x509_certificate

from cheiron.pki import make_ca

ISSUER = "cheiron-test-token-issuer"
SERVICE = "cheiron-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class _Reader:
    """A user who may pull only the repositories matching `repositories` (fnmatch patterns)."""

    password: str
    repositories: tuple[str, ...]
    excluded: tuple[str, ...]

    def may_pull(self, repository: str) -> bool:
        return any(fnmatch.fnmatchcase(repository, p) for p in self.repositories) and not any(
            fnmatch.fnmatchcase(repository, p) for p in self.excluded
        )


class TokenServer:
    """Issues tokens to one user, and pull-only tokens to readers; serves on 127.0.0.1.

    The user gets whatever access a client asks for; a reader (`add_reader`) only `pull` of
    the repositories its patterns allow, as Harbor's robot accounts or docker_auth's ACLs
    scope them: the registry then refuses every other repository to that reader.
    `requests` counts the token requests, `refused` those answered 401.
    """

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self._readers: dict[str, _Reader] = {}
        self.requests = 0
        self.refused = 0
        ca, self._key = make_ca("cheiron-test-token-ca")
        self.cert_pem = ca.cert_pem
        der = load_pem_x509_certificate(ca.cert_pem).public_bytes(serialization.Encoding.DER)
        self._x5c = base64.b64encode(der).decode()
        self._server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        """The URL clients get tokens from."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def write_bundle(self, path: Path) -> Path:
        """The root certificate bundle the registry trusts tokens by."""
        path.write_bytes(self.cert_pem)
        return path

    def add_reader(
        self,
        user: str,
        password: str,
        repositories: Sequence[str],
        excluded: Sequence[str] = (),
    ) -> None:
        """A user who may pull the repositories matching `repositories` but not `excluded`."""
        self._readers[user] = _Reader(password, tuple(repositories), tuple(excluded))

    def _granted(self, user: str, kind: str, name: str, actions: list[str]) -> list[str]:
        reader = self._readers.get(user)
        if reader is None:
            return actions
        if kind != "repository" or not reader.may_pull(name):
            return []
        return [a for a in actions if a == "pull"]

    def token(self, scope: str | Sequence[str] = "", user: str | None = None) -> str:
        """A signed token for `user` (default: the user) with what it asks for and may have.

        `scope` is one scope or several.
        """
        subject = user or self.user
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        now = int(time.time())
        access = []
        for one in [scope] if isinstance(scope, str) else scope:
            if one.count(":") >= 2:
                kind, name, actions = one.split(":", 2)
                granted = self._granted(subject, kind, name, actions.split(","))
                if granted:
                    access.append({"type": kind, "name": name, "actions": granted})
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(
            self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64(signature)}"

    def _accepts(self, header: str | None) -> str | None:
        """The user a Basic header authenticates, if any."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        known = {self.user: self.password, **{u: r.password for u, r in self._readers.items()}}
        expected = known.get(user)
        if expected is None or not secrets.compare_digest(password.encode(), expected.encode()):
            return None
        return user

    def __enter__(self) -> "TokenServer":
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            server_version: ClassVar[str] = "cheiron-test-token"

            def do_GET(self) -> None:
                issuer.requests += 1
                path, _, query = self.path.partition("?")
                if path != "/token":
                    self._reply(404, {"error": "not found"})
                    return
                user = issuer._accepts(self.headers.get("Authorization"))
                if user is None:
                    issuer.refused += 1
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                    return
                # Every scope asked for (a copy within one registry asks for two).
                token = issuer.token(parse_qs(query).get("scope", []), user)
                self._reply(200, {"token": token, "access_token": token, "expires_in": 300})

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests count requests instead."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
