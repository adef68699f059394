"""Runs a real Distribution registry (`docker-registry serve`) on a loopback port for tests.

Also records what skopeo is given on its way there (SkopeoRecorder).
"""

import base64
import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from cheiron.devcluster.cluster import _die_with_parent, free_port
from cheiron.pki import issue, make_ca
from tests.support.poll import eventually
from tests.support.process import Background
from tests.support.token_auth import ISSUER, SERVICE, TokenServer

DEFAULT_BINARY = Path("/usr/bin/docker-registry")

# Most specific first: a registry answers with the first type it has that the client accepts,
# and the image-backup feature must see an index as an index, not one platform's manifest.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)

# Another process may grab the port between free_port() and the registry's bind.
_START_ATTEMPTS = 3


class RegistryError(RuntimeError):
    """A registry request answered with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:300]!r}")
        self.status = status


@dataclass(frozen=True)
class Response:
    """What a registry answered: status, headers (lower-cased names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as the registry serves it, with the digest it reports."""

    digest: str
    media_type: str
    body: bytes

    def json(self) -> dict[str, Any]:
        """The parsed manifest."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Registry(Background):
    """A throwaway registry with filesystem storage in a temp dir; a context manager.

    `auth=(user, password)` turns on htpasswd (bcrypt) basic auth, `token` the token auth of
    a TokenServer (Bearer tokens from its realm), `tls=True` serves HTTPS
    with a certificate from a fresh test CA, `delete=True` lets manifests be deleted.
    """

    stop_timeout = 10.0

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        token: TokenServer | None = None,
        tls: bool = False,
        delete: bool = False,
        binary: Path = DEFAULT_BINARY,
        startup_timeout: float = 30.0,
    ) -> None:
        self.auth = auth
        self.token = token
        self.tls = tls
        self.delete = delete
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.port = 0
        self._dir: Path | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- where it is ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """host:port, as it appears in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL, http or https."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def workdir(self) -> Path:
        """The temp dir holding config, storage, certificates and the log."""
        if self._dir is None:
            raise RuntimeError("the registry is not started")
        return self._dir

    @property
    def storage_dir(self) -> Path:
        """The filesystem storage root."""
        return self.workdir / "storage"

    @property
    def cert_dir(self) -> Path:
        """A directory with the CA as ca.crt, the layout skopeo's --*-cert-dir expects."""
        return self.workdir / "certs"

    @property
    def ca_path(self) -> Path | None:
        """PEM of the CA that signed the serving certificate, when TLS is on."""
        return self.cert_dir / "ca.crt" if self.tls else None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the registry; returns once /v2/ answers."""
        if not self.binary.is_file():
            raise RuntimeError(
                f"{self.binary} is missing; install it with `make registry-tools` "
                "(hack/registry/ensure-tools.sh)"
            )
        self._dir = Path(tempfile.mkdtemp(prefix="cheiron-registry-"))
        self.log_path = self._dir / "registry.log"
        try:
            self._write_material()
            for _ in range(_START_ATTEMPTS):
                self.port = 0
                if self._start_once():
                    return
            raise RuntimeError(f"no port could be had in {_START_ATTEMPTS} attempts")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the process and remove the temp dir."""
        super().stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def change_password(self, password: str) -> None:
        """A new htpasswd, and a restart on the same port with the same storage.

        This registry reads its htpasswd file once, at start: a rotation needs the restart.
        """
        if self.auth is None:
            raise RuntimeError("the registry has no authentication to rotate")
        self.auth = (self.auth[0], password)
        self._write_htpasswd()
        super().stop()
        if not self._start_once():
            raise RuntimeError(f"{self.host} was taken while the registry restarted")

    def _write_htpasswd(self) -> None:
        assert self.auth is not None
        user, password = self.auth
        # Cost 4, the lowest bcrypt allows: every request verifies the hash.
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (self.workdir / "htpasswd").write_text(f"{user}:{hashed}\n")

    def _write_material(self) -> None:
        self.storage_dir.mkdir()
        self.cert_dir.mkdir()
        if self.tls:
            ca, ca_key = make_ca("cheiron-test-registry-ca")
            serving = issue(
                ca,
                ca_key,
                "127.0.0.1",
                dns_names=("localhost",),
                ip_addresses=("127.0.0.1",),
                server=True,
            )
            (self.cert_dir / "ca.crt").write_bytes(ca.cert_pem)
            (self.workdir / "tls.crt").write_bytes(serving.cert_pem)
            (self.workdir / "tls.key").write_bytes(serving.key_pem)
            self._ssl = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
        if self.auth is not None:
            self._write_htpasswd()

    def _config(self) -> dict[str, object]:
        http: dict[str, object] = {
            "addr": self.host,
            # A fixed secret keeps the log free of the "generated random secret" warning.
            "secret": secrets.token_hex(16),
        }
        if self.tls:
            http["tls"] = {
                "certificate": str(self.workdir / "tls.crt"),
                "key": str(self.workdir / "tls.key"),
            }
        storage: dict[str, object] = {
            "filesystem": {"rootdirectory": str(self.storage_dir)},
            "delete": {"enabled": self.delete},
            # The purger walks storage in the background; a test registry lives for seconds.
            "maintenance": {"uploadpurging": {"enabled": False}},
        }
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": storage,
            "http": http,
        }
        if self.auth is not None:
            config["auth"] = {
                "htpasswd": {"realm": "cheiron-test", "path": str(self.workdir / "htpasswd")}
            }
        if self.token is not None:
            config["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.token.write_bundle(self.workdir / "token-ca.crt")),
                }
            }
        return config

    def _start_once(self) -> bool:
        """One start (on a fresh port unless it has one); False if the port was taken."""
        self.port = self.port or free_port()
        config_path = self.workdir / "config.yml"
        config_path.write_text(yaml.safe_dump(self._config()))
        # A fresh log per attempt, so an earlier attempt's bind error is not read as this one's.
        proc = self.launch(
            [str(self.binary), "serve", str(config_path)],
            fresh_log=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # safe here: no threads start before exec
        )

        def up() -> str | None:
            # A truthy answer ends the polling at once: an exited registry will not come up.
            if proc.poll() is not None:
                return "exited"
            # 401 is an answer too: the registry is up, it just wants credentials.
            status = self.request("GET", "/v2/", anonymous=True, timeout=1).status
            return "up" if status in (200, 401) else None

        try:
            state = eventually(up, timeout=self.startup_timeout, what=f"registry on {self.host}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}") from e
        if state == "exited":
            if "address already in use" in self.logs():
                return False
            raise AssertionError(f"docker-registry exited with {proc.returncode}:\n{self.logs()}")
        return True

    # -- HTTP -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        credentials: tuple[str, str] | None = None,
        anonymous: bool = False,
        timeout: float = 10,
    ) -> Response:
        """One request; any status is returned, not raised.

        Uses the registry's own credentials unless `credentials` overrides them or
        `anonymous` leaves them out.
        """
        conn: http.client.HTTPConnection
        if self.tls:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self._ssl
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        all_headers = dict(headers or {})
        creds = credentials or (None if anonymous else self.auth)
        if creds is not None:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        try:
            conn.request(method, path, headers=all_headers)
            response = conn.getresponse()
            body = response.read()
            names = {k.lower(): v for k, v in response.getheaders()}
            return Response(response.status, names, body)
        finally:
            conn.close()

    def _ok(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> Response:
        response = self.request(method, path, headers=headers)
        if not 200 <= response.status < 300:
            raise RegistryError(method, path, response.status, response.body)
        return response

    def manifest_digest(self, repo: str, ref: str) -> str:
        """The digest the registry reports for a tag or digest (HEAD, no body)."""
        path = f"/v2/{repo}/manifests/{ref}"
        return self._ok("HEAD", path, {"Accept": _ACCEPT}).headers["docker-content-digest"]

    def manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest or index for a tag or digest, exactly as stored."""
        response = self._ok("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": _ACCEPT})
        return Manifest(
            response.headers["docker-content-digest"],
            response.headers["content-type"],
            response.body,
        )

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest by digest (needs delete=True)."""
        self._ok("DELETE", f"/v2/{repo}/manifests/{digest}")

    def tags(self, repo: str) -> list[str]:
        """The repository's tags, sorted; empty if it has none."""
        body = json.loads(self._ok("GET", f"/v2/{repo}/tags/list").body)
        return sorted(body.get("tags") or [])

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether the repository links the blob."""
        response = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        if response.status == 404:
            return False
        if response.status != 200:
            raise RegistryError("HEAD", f"/v2/{repo}/blobs/{digest}", response.status, b"")
        return True

    def stored_blobs(self) -> set[str]:
        """Digests of every blob in storage, across repositories (stored once each)."""
        root = self.storage_dir / "docker" / "registry" / "v2" / "blobs" / "sha256"
        return {f"sha256:{d.name}" for d in root.glob("*/*") if (d / "data").is_file()}


# -- what a skopeo run is given ------------------------------------------------------------

_AUTHFILE_FLAGS = ("--authfile=", "--src-authfile=", "--dest-authfile=")

# Python -I: no PYTHON* variable or user site reaches the shim. The environment is read from
# /proc (what execve passed, before Python's own locale coercion adds LC_CTYPE) and handed on
# unchanged, so skopeo gets exactly what cheiron gave it.
_SHIM = """#!{python} -I
import json, os, sys
env = dict(
    item.split("=", 1)
    for item in open("/proc/self/environ").read().split("\\0")
    if "=" in item
)
files = {{}}
for arg in sys.argv[1:]:
    for flag in {flags!r}:
        if arg.startswith(flag):
            with open(arg[len(flag):]) as f:
                files[flag[2:-1]] = json.load(f)
with open({record!r}, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "env": env, "authfiles": files}}) + "\\n")
os.execve({real!r}, [{real!r}, *sys.argv[1:]], env)
"""


@dataclass(frozen=True)
class SkopeoRun:
    """One skopeo run as the recording shim saw it, just before the real skopeo started."""

    argv: list[str]
    env: dict[str, str]
    # Each authfile flag's file (`authfile`, `src-authfile`, `dest-authfile`), parsed.
    authfiles: dict[str, dict[str, Any]]

    def auth_hosts(self, flag: str = "authfile") -> set[str]:
        """The hosts an authfile has entries for."""
        return set(self.authfiles.get(flag, {}).get("auths", {}))

    def credentials(self) -> dict[str, str]:
        """Every authfile entry decoded, `host: user:password`."""
        return {
            host: base64.b64decode(entry["auth"]).decode()
            for content in self.authfiles.values()
            for host, entry in content.get("auths", {}).items()
        }


class SkopeoRecorder:
    """A `skopeo` first on PATH that records each run, then execs the real one.

    It keeps argv, environment and authfiles; the real program still talks to the registry.
    """

    def __init__(self, directory: Path, real: str | None = None) -> None:
        found = real or shutil.which("skopeo")
        if found is None:
            raise RuntimeError("skopeo is not installed; `make registry-tools`")
        self.bin = directory / "bin"
        self.bin.mkdir(parents=True)
        self.record = directory / "runs.jsonl"
        shim = self.bin / "skopeo"
        shim.write_text(
            _SHIM.format(
                python=sys.executable, flags=_AUTHFILE_FLAGS, record=str(self.record), real=found
            )
        )
        shim.chmod(0o755)

    def path(self, current: str) -> str:
        """A PATH with the shim in front of `current`."""
        return f"{self.bin}{os.pathsep}{current}"

    def runs(self) -> list[SkopeoRun]:
        """The runs so far, oldest first."""
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        return [SkopeoRun(**json.loads(line)) for line in lines]


# What a skopeo run may inherit from the operator (cheiron.sources.skopeo.environment): the
# private dir's HOME, TMPDIR and XDG_RUNTIME_DIR, PATH, the system's CAs and the proxy.
SKOPEO_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    }
)


def leaky_environment(directory: Path, logins: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """An operator environment skopeo must not see; the variables to set.

    AWS keys, the service account's API address, an unrelated setting, and `logins` in every
    place containers/image and docker look for ambient credentials (DOCKER_CONFIG,
    REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME).
    """
    auths = {
        host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        for host, (user, password) in logins.items()
    }
    config = json.dumps({"auths": auths})
    home, runtime, docker = directory / "home", directory / "run", directory / "docker"
    for path in (
        home / ".docker" / "config.json",
        home / ".config" / "containers" / "auth.json",
        runtime / "containers" / "auth.json",
        docker / "config.json",
        directory / "registry-auth.json",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config)
    return {
        "AWS_ACCESS_KEY_ID": "AKIAOPERATORKEY00000",
        "AWS_SECRET_ACCESS_KEY": "operator-secret-access-key",
        "AWS_SESSION_TOKEN": "operator-session-token",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "CHEIRON_UNRELATED_SETTING": "operator-only",
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "DOCKER_CONFIG": str(docker),
        "REGISTRY_AUTH_FILE": str(directory / "registry-auth.json"),
    }
