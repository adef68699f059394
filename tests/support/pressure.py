"""What a hostile namespace user can create to run the operator out of memory (issue 23).

Shared by tests/integration/operator/test_tenant_pressure.py and bench/tenant_pressure.py,
so the benchmark measures exactly what the test holds the operator to.
"""

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kubernetes import client

from tests.support.managers import create_manager, manager_body

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Pressure:
    """How much of each: the defaults are the issue's numbers."""

    opaque_secrets: int = 200
    opaque_bytes: int = 900 * KIB
    accounts: int = 500
    labels_per_account: int = 5000
    managers: int = 10
    entries_per_manager: int = 64
    shared_secret_bytes: int = 900 * KIB
    registries_in_one_secret: int = 26_000
    churn_bytes: int = 1 * MIB


def _namespace(core: client.CoreV1Api, name: str) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def _secret(name: str, data: dict[str, str], type_: str = "Opaque") -> client.V1Secret:
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name), type=type_, string_data=data)


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def shared_payload(size: int) -> str:
    """A valid dockerconfigjson of about `size` bytes: few registries, long passwords."""
    hosts = 200
    # base64 makes each `auth` a third longer than its user:password.
    password = "p" * max(1, size * 3 // 4 // hosts - 40)
    return json.dumps(
        {"auths": {f"r{i}.example": {"auth": _auth("u", password)} for i in range(hosts)}}
    )


def create(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, prefix: str, p: Pressure
) -> None:
    """The tenant's objects, in namespaces `<prefix>-secrets`, `-accounts` and `-managers`."""
    secrets, accounts, managers = (f"{prefix}-{s}" for s in ("secrets", "accounts", "managers"))
    for name in (secrets, accounts, managers):
        _namespace(core, name)
    blob = "x" * p.opaque_bytes
    labels = {f"tenant-{i:05d}": "x" for i in range(p.labels_per_account)}

    def opaque(i: int) -> None:
        core.create_namespaced_secret(secrets, _secret(f"blob-{i:04d}", {"blob": blob}))

    def account(i: int) -> None:
        meta = client.V1ObjectMeta(name=f"sa-{i:04d}", labels=labels)
        core.create_namespaced_service_account(accounts, client.V1ServiceAccount(metadata=meta))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(opaque, range(p.opaque_secrets)))
        list(pool.map(account, range(p.accounts)))
    many = {f"r{i}.example": {"auth": _auth("u", "p")} for i in range(p.registries_in_one_secret)}
    core.create_namespaced_secret(
        secrets,
        _secret("registries", {".dockerconfigjson": json.dumps({"auths": many})}, DOCKERCONFIG),
    )
    core.create_namespaced_secret(
        managers,
        _secret(
            "shared", {".dockerconfigjson": shared_payload(p.shared_secret_bytes)}, DOCKERCONFIG
        ),
    )
    entries = [
        {"name": f"e{i:02d}", "existingSecretRef": {"name": "shared"}}
        for i in range(p.entries_per_manager)
    ]
    for i in range(p.managers):
        create_manager(custom, managers, manager_body(f"m{i:02d}", entries))


DOCKERCONFIG = "kubernetes.io/dockerconfigjson"


@contextlib.contextmanager
def churn(core: client.CoreV1Api, namespace: str, size: int) -> Iterator[threading.Event]:
    """A tenant rewriting a 1 MiB Opaque and a 1 MiB pull Secret in a loop, until the block ends.

    Yields an event set once the first rewrite went through.
    """
    stop, started = threading.Event(), threading.Event()
    core.create_namespaced_secret(namespace, _secret("churn-opaque", {"blob": "0"}))
    core.create_namespaced_secret(
        namespace, _secret("churn-pull", {".dockerconfigjson": shared_payload(1000)}, DOCKERCONFIG)
    )

    def loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with contextlib.suppress(client.ApiException):
                core.patch_namespaced_secret(
                    "churn-opaque",
                    namespace,
                    {"stringData": {"blob": str(n) * (size // len(str(n)))}},
                )
                core.patch_namespaced_secret(
                    "churn-pull",
                    namespace,
                    {
                        "stringData": {
                            ".dockerconfigjson": shared_payload(size - 100_000 + n % 1000)
                        }
                    },
                )
                started.set()
            stop.wait(0.5)

    thread = threading.Thread(target=loop, name="churn", daemon=True)
    thread.start()
    try:
        yield started
    finally:
        stop.set()
        thread.join(10)
