"""check_login against real registries: Basic (htpasswd), Bearer tokens, TLS, and failures."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cheiron.api.sources import RegistryLogin, VerificationResult
from cheiron.devcluster.cluster import free_port
from cheiron.sources.skopeo import TYPED_LIMIT, check_login
from tests.support.registry import Registry, SkopeoRecorder
from tests.support.token_auth import TokenServer

USER, PASSWORD = "alice", "correct-horse-4711"


async def test_basic_auth_accepts_the_password_and_rejects_a_wrong_one() -> None:
    with Registry(auth=(USER, PASSWORD)) as registry:
        good = await check_login(RegistryLogin(registry.host, USER, PASSWORD, insecure=True))
        bad = await check_login(RegistryLogin(registry.host, USER, "wrong-9", insecure=True))
    assert good.result is VerificationResult.VERIFIED
    assert bad.result is VerificationResult.REJECTED
    assert "invalid username/password" in bad.message
    assert PASSWORD not in bad.message
    assert "wrong-9" not in bad.message


async def test_bearer_tokens_come_from_the_realm_with_the_credentials() -> None:
    with TokenServer(USER, PASSWORD) as tokens, Registry(token=tokens) as registry:
        good = await check_login(RegistryLogin(registry.host, USER, PASSWORD, insecure=True))
        bad = await check_login(RegistryLogin(registry.host, USER, "wrong-9", insecure=True))
        asked, refused = tokens.requests, tokens.refused
    assert good.result is VerificationResult.VERIFIED
    assert bad.result is VerificationResult.REJECTED
    # One token request per check: the realm was asked, with the credentials.
    assert (asked, refused) == (2, 1)


async def test_tls_is_checked_against_the_given_ca() -> None:
    with Registry(auth=(USER, PASSWORD), tls=True) as registry:
        assert registry.ca_path is not None
        ca = registry.ca_path.read_text()
        trusted = await check_login(RegistryLogin(registry.host, USER, PASSWORD), ca_pem=ca)
        untrusted = await check_login(RegistryLogin(registry.host, USER, PASSWORD))
    assert trusted.result is VerificationResult.VERIFIED
    # A certificate nobody vouches for says nothing about the credentials.
    assert untrusted.result is VerificationResult.UNREACHABLE
    assert "certificate" in untrusted.message


async def test_nothing_listening_is_unreachable() -> None:
    host = f"127.0.0.1:{free_port()}"
    verdict = await check_login(RegistryLogin(host, USER, PASSWORD, insecure=True))
    assert verdict.result is VerificationResult.UNREACHABLE
    assert "connection refused" in verdict.message


@contextmanager
def _answering(status: int) -> Iterator[str]:
    """A server that challenges for Basic auth, then answers `status` (a broken registry)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            challenge = status != 503 and "Authorization" not in self.headers
            self.send_response(401 if challenge else status)
            if challenge:
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_forbidden_is_rejected_and_a_server_error_unreachable() -> None:
    with _answering(403) as host:
        forbidden = await check_login(RegistryLogin(host, USER, PASSWORD, insecure=True))
    with _answering(503) as host:
        failing = await check_login(RegistryLogin(host, USER, PASSWORD, insecure=True))
    assert forbidden.result is VerificationResult.REJECTED
    assert failing.result is VerificationResult.UNREACHABLE
    assert "503" in failing.message


async def test_a_password_is_typed_whole_control_characters_and_all() -> None:
    # skopeo reads the password at its terminal prompt: every character a line can hold must
    # reach the registry as it is (no ^C, ^D, ^U, ^W, ^V or DEL taken as line editing).
    odd = "".join(chr(c) for c in [*range(32), 127] if chr(c) not in "\n\r\b")
    # As long as a password typed may be.
    password = f"{odd}-".ljust(TYPED_LIMIT, "p")
    with TokenServer(USER, password) as tokens, Registry(token=tokens) as registry:
        whole = await check_login(RegistryLogin(registry.host, USER, password, insecure=True))
        cut = await check_login(RegistryLogin(registry.host, USER, password[:-1], insecure=True))
    assert whole.result is VerificationResult.VERIFIED, whole.message
    assert cut.result is VerificationResult.REJECTED
    unicode = "pässwörd-\u263a"
    with Registry(auth=(USER, unicode)) as registry:
        verdict = await check_login(RegistryLogin(registry.host, USER, unicode, insecure=True))
    assert verdict.result is VerificationResult.VERIFIED, verdict.message


async def test_a_password_no_terminal_line_holds_is_not_asked_about(
    skopeo_runs: SkopeoRecorder,
) -> None:
    for password in ("two\nlines", "carriage\rreturn", "back\bspace", "p" * (TYPED_LIMIT + 1)):
        verdict = await check_login(RegistryLogin("127.0.0.1:1", USER, password, insecure=True))
        assert verdict.result is VerificationResult.SKIPPED
        assert password not in verdict.message
    assert skopeo_runs.runs() == []
