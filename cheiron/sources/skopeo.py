"""Copies images between registries with skopeo, reads their digests back and checks logins.

Chosen in bench/notes/oci-copy-tools.md: `skopeo copy --all --preserve-digests` copies an
index and every platform's manifest, skips blobs the destination has and keeps every digest.
Each skopeo run sees only what it needs: a private temp dir of its own (0700, removed after)
as HOME, TMPDIR and XDG_RUNTIME_DIR; per side an authfile (0600) holding that side's host
alone, or `--no-creds` where the caller has no login for it; no username or password on the
command line (where `ps` would show them) or in an error message; and of the operator's
environment only PATH, the system's CA settings and the proxy (`environment`). skopeo runs
as an async subprocess, killed at its deadline: a copy holds no thread of the operator, and a
registry that never answers costs its backup the deadline, nothing more.
"""

import asyncio
import contextlib
import datetime
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import termios
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.dockerconfig import DockerConfigError, encode_auth

log = logging.getLogger(__name__)

COPY_TIMEOUT = 600.0
INSPECT_TIMEOUT = 120.0
_NOT_FOUND = re.compile(r"manifest unknown|not found|404", re.IGNORECASE)
_FATAL_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')
# Signature policy: backups copy what the cluster already runs; verifying signatures is the
# runtime's business. Written out rather than `--insecure-policy`, so the choice is visible.
_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


class CopyError(Exception):
    """skopeo failed; the message is skopeo's own error line (never a credential)."""


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach one registry: credentials and TLS settings."""

    host: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_pem: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class CopyRequest:
    """Copy `source` (a normalised reference) to `repository` in the backup registry."""

    source: str
    source_repository: str
    repository: str
    # The tag the copy is pushed under, given its digest: the backup rules' to choose
    # (cheiron.images.reference.digest_tag), since sources/ sits below images/.
    tag: Callable[[str], str]
    source_digest: str | None = None
    registries: tuple[RegistryAccess, ...] = ()


@dataclass(frozen=True)
class CopyResult:
    """What was found and done: both digests, and whether anything was copied."""

    source_digest: str
    backup_digest: str | None
    copied: bool


def _host(reference: str) -> str:
    return reference.split("/", 1)[0]


# What a skopeo run inherits from the operator: where programs are, which CAs the system
# trusts (an image may name its bundle by variable) and the proxy that reaches registries.
# Nothing else: no AWS key, no service-account address, and no DOCKER_CONFIG,
# REGISTRY_AUTH_FILE or XDG_* directory through which skopeo would find logins of the operator.
INHERITED = (
    "PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
)


def environment(private: Path, inherited: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a skopeo run whose private dir is `private`."""
    env = {name: inherited[name] for name in INHERITED if name in inherited}
    env.setdefault("PATH", os.defpath)
    # Besides --authfile, containers/image reads logins from $HOME/.docker, $HOME/.config and
    # $XDG_RUNTIME_DIR/containers, and it spools big blobs to $TMPDIR (else /var/tmp,
    # read-only in the operator's Pod): all of them are the run's own empty dir.
    for name in ("HOME", "TMPDIR", "XDG_RUNTIME_DIR"):
        env[name] = str(private)
    return env


class _Workdir:
    """The private dir of one skopeo run: its environment, policy, authfiles and CA dirs."""

    def __init__(self, path: Path, registries: Sequence[RegistryAccess]) -> None:
        self.path = path
        self.registries = {r.host: r for r in registries}
        self.policy = path / "policy.json"
        self.policy.write_text(json.dumps(_POLICY))
        self.env = environment(path, os.environ)

    def authfile(self, name: str, auths: Mapping[str, str]) -> Path:
        """A new authfile (0600 from its creation) with these `host: auth` entries only."""
        path = self.path / f"{name}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"auths": {host: {"auth": auth} for host, auth in auths.items()}}, f)
        return path

    def credentials(self, side: str, host: str) -> list[str]:
        """Login flags for one side (`src`, `dest`, or '' for inspect).

        An authfile with the host's login alone, or anonymous access (no auth file read at
        all) where the caller has no login for it.
        """
        prefix = f"--{side}-" if side else "--"
        access = self.registries.get(host)
        if access is None or access.username is None or access.password is None:
            return [f"{prefix}no-creds"]
        auth = encode_auth(access.username, access.password)
        return [f"{prefix}authfile={self.authfile(side or 'auth', {host: auth})}"]

    def tls(self, side: str, host: str) -> list[str]:
        """TLS flags for one side of a command."""
        prefix = f"--{side}-" if side else "--"
        access = self.registries.get(host)
        if access is None:
            return []
        if access.insecure:
            return [f"{prefix}tls-verify=false"]
        if access.ca_pem:
            certs = self.path / "certs" / host.replace(":", "_")
            certs.mkdir(parents=True, exist_ok=True)
            (certs / "ca.crt").write_text(access.ca_pem)
            return [f"{prefix}cert-dir={certs}"]
        return []

    def flags(self, side: str, host: str) -> list[str]:
        """Login and TLS flags for one side of a command."""
        return [*self.credentials(side, host), *self.tls(side, host)]


@contextmanager
def _workdir(registries: Sequence[RegistryAccess]) -> Iterator[_Workdir]:
    path = Path(tempfile.mkdtemp(prefix="cheiron-skopeo-"))  # mode 0700
    try:
        yield _Workdir(path, registries)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _skopeo() -> str:
    found = shutil.which("skopeo")
    if found is None:
        raise CopyError("skopeo is not installed in the operator's image")
    return found


def _error(stderr: bytes) -> str:
    text = stderr.decode(errors="replace").strip()
    lines = [m.group(1) for m in _FATAL_MSG.finditer(text)] or text.splitlines()[-1:]
    return (lines[-1] if lines else "skopeo failed")[:1000]


# The characters a terminal line discipline would act on rather than pass through.
_SPECIAL = (
    "VINTR",
    "VQUIT",
    "VERASE",
    "VKILL",
    "VEOF",
    "VEOL",
    "VEOL2",
    "VSTART",
    "VSTOP",
    "VSUSP",
    "VREPRINT",
    "VWERASE",
    "VLNEXT",
    "VDISCARD",
)


def _plain_lines(fd: int) -> None:
    """Make a terminal pass typed lines through as they are.

    No echo, no signal, no editing or flow-control character (each disabled, as 0), no
    carriage return turned into a newline.
    """
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(
        termios.IXON
        | termios.IXOFF
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.BRKINT
        | termios.INPCK
        | termios.PARMRK
    )
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ISIG | termios.IEXTEN)
    lflag |= termios.ICANON
    for name in _SPECIAL:
        cc[getattr(termios, name)] = b"\0"
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


@contextmanager
def _stdin(typed: bytes | None) -> Iterator[int]:
    """The stdin of skopeo: /dev/null, or a terminal of its own where `typed` waits.

    The terminal is exclusive (TIOCEXCL: no other open of its /dev/pts node succeeds), its
    controlling end never leaves this process, and both are closed when the run is over.
    """
    if typed is None:
        yield asyncio.subprocess.DEVNULL
        return
    controller, terminal = os.openpty()
    try:
        fcntl.ioctl(terminal, termios.TIOCEXCL)
        _plain_lines(terminal)
        pending = memoryview(typed)
        while pending:
            pending = pending[os.write(controller, pending) :]
        yield terminal
    finally:
        os.close(terminal)
        os.close(controller)


async def _run(
    args: list[str], timeout: float, env: dict[str, str], typed: bytes | None = None
) -> bytes:
    with _stdin(typed) as stdin:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            raise CopyError(f"skopeo timed out after {timeout:.0f}s") from None
        finally:
            # Also when the caller is cancelled (the operator stopping): no skopeo outlives it.
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        raise CopyError(_error(stderr))
    return stdout


async def _digest(registries: Sequence[RegistryAccess], reference: str) -> str | None:
    """The manifest digest a registry serves for a reference; None when it has none."""
    with _workdir(registries) as work:
        args = [
            _skopeo(),
            f"--policy={work.policy}",
            "inspect",
            "--raw",
            "--retry-times=0",
            *work.flags("", _host(reference)),
            f"docker://{reference}",
        ]
        try:
            raw = await _run(args, INSPECT_TIMEOUT, work.env)
        except CopyError as e:
            if _NOT_FOUND.search(str(e)):
                return None
            raise
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


async def _copy(registries: Sequence[RegistryAccess], source: str, destination: str) -> None:
    with _workdir(registries) as work:
        await _run(
            [
                _skopeo(),
                f"--policy={work.policy}",
                "copy",
                "--quiet",
                "--all",
                "--preserve-digests",
                "--retry-times=0",
                *work.flags("src", _host(source)),
                *work.flags("dest", _host(destination)),
                f"docker://{source}",
                f"docker://{destination}",
            ],
            COPY_TIMEOUT,
            work.env,
        )


async def read_digest(reference: str, registries: Sequence[RegistryAccess] = ()) -> str | None:
    """The digest of the manifest or index a reference names (None: not there)."""
    return await _digest(registries, reference)


async def backup(request: CopyRequest) -> CopyResult:
    """Resolve the source digest, copy unless the backup has it, and read the copy back.

    The copy is made from the resolved digest, not the tag, so a tag moved meanwhile cannot
    put another image into the backup than the one verified against. Each of these steps is
    a skopeo run of its own, given the logins of its own hosts only.
    """
    registries = request.registries
    digest = request.source_digest or await _digest(registries, request.source)
    if digest is None:
        raise CopyError(f"{request.source} not found in its registry")
    pinned_source = f"{request.source_repository}@{digest}"
    # An immutable tag per digest (images.reference.digest_tag explains why).
    destination = f"{request.repository}:{request.tag(digest)}"
    present = await _digest(registries, f"{request.repository}@{digest}")
    if present == digest:
        return CopyResult(digest, present, copied=False)
    await _copy(registries, pinned_source, destination)
    log.info("copied %s to %s", pinned_source, destination)
    # Read back through the tag just pushed: what a pull of the backup will get.
    return CopyResult(digest, await _digest(registries, destination), copied=True)


LOGIN_TIMEOUT = 20.0
# containers/image's words for a 401 (from /v2/ or the token realm) and for a 403; nothing
# looser: "connect: permission denied" is the network's answer, not the registry's.
_REJECTED = re.compile(
    r"invalid username/password"
    r"|status code from registry 40[13]\b"
    r"|\b40[13] \((Unauthorized|Forbidden)\)"
)


# A terminal line holds 4095 bytes and its newline (Linux's N_TTY_BUF_SIZE); a password is
# typed at skopeo's prompt only well within that.
TYPED_LIMIT = 4000


def untypable(login: RegistryLogin) -> str | None:
    """Why a login cannot be given to `skopeo login` as check_login does (None: it can)."""
    try:
        encode_auth(login.username, "")
        size = len(login.password.encode())
    except (DockerConfigError, UnicodeEncodeError):
        return "the username or password is not valid Unicode text"
    # A line ends at either break; the prompt (golang.org/x/term) takes a backspace as erasing.
    if any(c in login.password for c in "\n\r\b"):
        return (
            "the password has a line break or a backspace, which skopeo's password prompt "
            "cannot take"
        )
    if size > TYPED_LIMIT:
        return (
            f"the password is longer than the {TYPED_LIMIT} bytes skopeo's password prompt is given"
        )
    return None


async def check_login(
    login: RegistryLogin, ca_pem: str | None = None, timeout: float = LOGIN_TIMEOUT
) -> Verdict:
    """Ask the registry whether it accepts the login, as a client pulling would.

    `skopeo login` pings `/v2/` and answers the challenge: Basic with the credentials, or a
    Bearer token from the realm, requested with them. Neither goes on its command line: its
    `--password-stdin` demands `--username`, so the username is the authfile's (an entry
    without password, which skopeo offers at its username prompt, answered with an empty
    line) and the password is typed at its password prompt, on a terminal of its own. The
    authfile, which skopeo completes once the login works, lives in the run's private dir.
    """
    now = datetime.datetime.now(datetime.UTC)
    refused = untypable(login)
    if refused is not None:
        return Verdict(VerificationResult.SKIPPED, now, f"{login.host}: not verified: {refused}")
    access = RegistryAccess(login.host, ca_pem=ca_pem, insecure=login.insecure)
    with _workdir([access]) as work:
        authfile = work.authfile("auth", {login.host: encode_auth(login.username, "")})
        args = [
            _skopeo(),
            "login",
            f"--authfile={authfile}",
            *work.tls("", login.host),
            login.host,
        ]
        try:
            await _run(args, timeout, work.env, typed=f"\n{login.password}\n".encode())
        except CopyError as e:
            message = str(e).replace('\\"', '"')[:500]
            result = (
                VerificationResult.REJECTED
                if _REJECTED.search(message)
                else VerificationResult.UNREACHABLE
            )
            return Verdict(result, now, f"{login.host}: {message}")
    return Verdict(VerificationResult.VERIFIED, now, f"{login.host} accepted the credentials")
