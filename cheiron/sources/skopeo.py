"""Copies images between registries with skopeo and reads their digests back.

Chosen in bench/notes/oci-copy-tools.md: `skopeo copy --all --preserve-digests` copies an
index and every platform's manifest, skips blobs the destination has and keeps every digest.
Credentials go to skopeo in an authfile inside a private temp dir (0700, file 0600), never
on the command line (where `ps` would show them) and never into an error message. skopeo runs
as an async subprocess, killed at its deadline: a copy holds no thread of the operator, and a
registry that never answers costs its backup the deadline, nothing more.
"""

import asyncio
import contextlib
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cheiron.api.sources import RegistryLogin, Verdict, VerificationResult
from cheiron.dockerconfig import encode_auth

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


class _Workdir:
    """The authfile, per-host CA dirs and policy of one run, in a private temp dir."""

    def __init__(self, path: Path, registries: Sequence[RegistryAccess]) -> None:
        self.path = path
        self.registries = {r.host: r for r in registries}
        auths = {
            r.host: {"auth": encode_auth(r.username, r.password)}
            for r in registries
            if r.username is not None and r.password is not None
        }
        self.authfile = path / "auth.json"
        self.authfile.touch(mode=0o600)
        self.authfile.write_text(json.dumps({"auths": auths}))
        self.policy = path / "policy.json"
        self.policy.write_text(json.dumps(_POLICY))
        # containers/image spools big blobs to $TMPDIR, else /var/tmp: read-only in the
        # operator's Pod, whose one writable place is the /tmp this directory lives in.
        self.env = {**os.environ, "TMPDIR": str(path)}

    def flags(self, side: str, host: str) -> list[str]:
        """TLS flags for one side (`src`, `dest`, or '' for inspect) of a command."""
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


async def _run(
    args: list[str], timeout: float, env: dict[str, str], stdin: bytes | None = None
) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(stdin), timeout)
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


async def _digest(work: _Workdir, reference: str) -> str | None:
    """The manifest digest a registry serves for a reference; None when it has none."""
    args = [
        _skopeo(),
        f"--policy={work.policy}",
        "inspect",
        "--raw",
        "--retry-times=0",
        f"--authfile={work.authfile}",
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


async def read_digest(reference: str, registries: Sequence[RegistryAccess] = ()) -> str | None:
    """The digest of the manifest or index a reference names (None: not there)."""
    with _workdir(registries) as work:
        return await _digest(work, reference)


async def backup(request: CopyRequest) -> CopyResult:
    """Resolve the source digest, copy unless the backup has it, and read the copy back.

    The copy is made from the resolved digest, not the tag, so a tag moved meanwhile cannot
    put another image into the backup than the one verified against.
    """
    with _workdir(request.registries) as work:
        digest = request.source_digest or await _digest(work, request.source)
        if digest is None:
            raise CopyError(f"{request.source} not found in its registry")
        pinned_source = f"{request.source_repository}@{digest}"
        # An immutable tag per digest (images.reference.digest_tag explains why).
        destination = f"{request.repository}:{request.tag(digest)}"
        present = await _digest(work, f"{request.repository}@{digest}")
        if present == digest:
            return CopyResult(digest, present, copied=False)
        await _run(
            [
                _skopeo(),
                f"--policy={work.policy}",
                "copy",
                "--quiet",
                "--all",
                "--preserve-digests",
                "--retry-times=0",
                f"--authfile={work.authfile}",
                *work.flags("src", _host(pinned_source)),
                *work.flags("dest", _host(destination)),
                f"docker://{pinned_source}",
                f"docker://{destination}",
            ],
            COPY_TIMEOUT,
            work.env,
        )
        log.info("copied %s to %s", pinned_source, destination)
        # Read back through the tag just pushed: what a pull of the backup will get.
        return CopyResult(digest, await _digest(work, destination), copied=True)


LOGIN_TIMEOUT = 20.0
# containers/image's words for a 401 (from /v2/ or the token realm) and for a 403; nothing
# looser: "connect: permission denied" is the network's answer, not the registry's.
_REJECTED = re.compile(
    r"invalid username/password"
    r"|status code from registry 40[13]\b"
    r"|\b40[13] \((Unauthorized|Forbidden)\)"
)


async def check_login(
    login: RegistryLogin, ca_pem: str | None = None, timeout: float = LOGIN_TIMEOUT
) -> Verdict:
    """Ask the registry whether it accepts the login, as a client pulling would.

    `skopeo login` pings `/v2/` and answers the challenge: Basic with the credentials, or a
    Bearer token from the realm, requested with them. The password goes in on stdin; the
    authfile it writes lives in a private temp dir removed at once.
    """
    now = datetime.datetime.now(datetime.UTC)
    access = RegistryAccess(login.host, ca_pem=ca_pem, insecure=login.insecure)
    with _workdir([access]) as work:
        args = [
            _skopeo(),
            "login",
            f"--authfile={work.authfile}",
            f"--username={login.username}",
            "--password-stdin",
            *work.flags("", login.host),
            login.host,
        ]
        try:
            await _run(args, timeout, work.env, stdin=login.password.encode())
        except CopyError as e:
            message = str(e).replace('\\"', '"')[:500]
            result = (
                VerificationResult.REJECTED
                if _REJECTED.search(message)
                else VerificationResult.UNREACHABLE
            )
            return Verdict(result, now, f"{login.host}: {message}")
    return Verdict(VerificationResult.VERIFIED, now, f"{login.host} accepted the credentials")
