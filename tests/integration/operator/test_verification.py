"""Credentials are checked with their registries before they reach a Pod.

Real registries on loopback (htpasswd and token auth); the module's operator may ask only
127.0.0.1 (tests/support/operator.VERIFY_LOOPBACK_ONLY).
"""

import base64
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from cheiron.devcluster.cluster import free_port
from tests.support.managers import (
    create_manager,
    docker_config,
    events_for,
    get_manager,
    manager_body,
    patch_spec,
    ready_condition,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.registry import Registry
from tests.support.token_auth import TokenServer

USER, PASSWORD, NEW_PASSWORD = "robot", "first-pass-4711", "second-pass-0815"
WRONG = "typo-in-rotation-42"


@pytest.fixture(scope="module")
def basic_registry() -> Iterator[Registry]:
    """A registry with htpasswd (Basic) auth."""
    with Registry(auth=(USER, PASSWORD)) as registry:
        yield registry


@pytest.fixture(scope="module")
def token_registry() -> Iterator[tuple[Registry, TokenServer]]:
    """A registry with token auth, and its token server."""
    with TokenServer(USER, PASSWORD) as tokens, Registry(token=tokens) as registry:
        yield registry, tokens


def _entry(name: str, registry: str, password: str) -> dict[str, str]:
    return {"name": name, "registry": registry, "username": USER, "password": password}


def _entries(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    status = get_manager(custom, namespace, name).get("status") or {}
    return {e["name"]: e for e in status.get("entries", [])}


def _verdicts(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, str]:
    return {
        k: (e.get("verification") or {}).get("result", "")
        for k, e in _entries(custom, namespace, name).items()
    }


def _wait_for_verdicts(
    custom: client.CustomObjectsApi, namespace: str, name: str, expected: dict[str, str]
) -> dict[str, Any]:
    eventually(
        lambda: _verdicts(custom, namespace, name) == expected,
        what=f"verdicts {expected}",
    )
    return get_manager(custom, namespace, name)


def _password(core: client.CoreV1Api, namespace: str, name: str) -> str:
    auths = docker_config(core.read_namespaced_secret(name, namespace))["auths"]
    (auth,) = auths.values()
    return str(auth["password"])


def test_verified_and_rejected_credentials_with_basic_and_token_auth(  # noqa: PLR0917 - fixtures
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    basic_registry: Registry,
    token_registry: tuple[Registry, TokenServer],
) -> None:
    tokens_registry, tokens = token_registry
    asked_before = tokens.requests
    body = manager_body(
        "m",
        [
            _entry("basic-good", basic_registry.host, PASSWORD),
            _entry("token-good", tokens_registry.host, PASSWORD),
            _entry("token-wrong", tokens_registry.host, WRONG),
        ],
    )
    create_manager(custom, namespace, body)
    manager = _wait_for_verdicts(
        custom,
        namespace,
        "m",
        {"basic-good": "Verified", "token-good": "Verified", "token-wrong": "Rejected"},
    )
    # The realm was asked for tokens with the credentials, once per set of credentials.
    assert tokens.requests - asked_before == 2
    # Warn (the default): the rejected credentials are written all the same.
    assert _password(core, namespace, "token-wrong") == WRONG
    ready = ready_condition(manager)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "CredentialsRejected")
    assert "token-wrong" in ready["message"]
    assert manager["status"]["phase"] == "Degraded"
    entries = _entries(custom, namespace, "m")
    assert entries["basic-good"]["verification"]["checkedAt"]
    assert "invalid username/password" in entries["token-wrong"]["verification"]["message"]
    events = eventually(
        lambda: [e for e in events_for(core, namespace, "m") if e.reason == "CredentialsRejected"],
        what="a CredentialsRejected Event",
    )
    assert "token-wrong" in events[0].message
    # The spec holds the inline passwords; status and Events must not.
    text = str(manager["status"]) + " ".join(e.message for e in events_for(core, namespace, "m"))
    for secret in (PASSWORD, WRONG):
        assert secret not in text

    with urllib.request.urlopen(f"{operator.http}/metrics", timeout=5) as response:  # noqa: S310 - loopback
        series = response.read().decode()
    key = f"ImagePullSecretManager/{namespace}/m"
    for entry, result in (("token-wrong", "Rejected"), ("basic-good", "Verified")):
        line = f'{{entry="{entry}",manager="{key}",result="{result}"}} 1.0'
        assert f"cheiron_credentials_verified{line}" in series
    assert f'{{entry="basic-good",manager="{key}",result="Rejected"}} 0.0' in series


def test_enforce_writes_no_rejected_credentials(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    basic_registry: Registry,
) -> None:
    body = manager_body(
        "strict",
        [
            _entry("good", basic_registry.host, PASSWORD),
            _entry("wrong", basic_registry.host, WRONG),
        ],
    )
    body["spec"]["verification"] = "Enforce"
    create_manager(custom, namespace, body)
    _wait_for_verdicts(custom, namespace, "strict", {"good": "Verified", "wrong": "Rejected"})
    entries = _entries(custom, namespace, "strict")
    assert entries["wrong"]["ready"] is False
    assert entries["wrong"]["reason"] == "CredentialsRejected"
    assert "Enforce" in entries["wrong"]["message"]
    assert _password(core, namespace, "good") == PASSWORD
    names = {s.metadata.name for s in core.list_namespaced_secret(namespace).items}
    assert "wrong" not in names


def test_a_rotation_the_registry_rejects_keeps_the_working_secret(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    with Registry(auth=(USER, PASSWORD)) as registry:
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="creds"),
                string_data={"username": USER, "password": PASSWORD},
            ),
        )
        entry = {
            "name": "pull",
            "registry": registry.host,
            "credentialsSecretRef": {"name": "creds"},
        }
        create_manager(custom, namespace, manager_body("m", [entry]))
        _wait_for_verdicts(custom, namespace, "m", {"pull": "Verified"})
        assert _password(core, namespace, "pull") == PASSWORD

        # A typo in the rotated password: the registry says no, the Secret keeps the old one.
        core.patch_namespaced_secret("creds", namespace, {"stringData": {"password": WRONG}})
        eventually(
            lambda: _entries(custom, namespace, "m")["pull"]["reason"] == "CredentialsRejected",
            what="the rejected rotation reported",
        )
        pull = _entries(custom, namespace, "m")["pull"]
        assert pull["verification"]["result"] == "Rejected"
        assert "keep the previous credentials" in pull["message"]
        assert _password(core, namespace, "pull") == PASSWORD
        manager = get_manager(custom, namespace, "m")
        ready = ready_condition(manager)
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "CredentialsRejected")

        # The real rotation: the registry changes the password, then the Secret does.
        registry.change_password(NEW_PASSWORD)
        core.patch_namespaced_secret("creds", namespace, {"stringData": {"password": NEW_PASSWORD}})
        eventually(
            lambda: _password(core, namespace, "pull") == NEW_PASSWORD,
            what="the accepted rotation written",
        )
        _wait_for_verdicts(custom, namespace, "m", {"pull": "Verified"})
        eventually(
            lambda: (
                (ready_condition(get_manager(custom, namespace, "m")) or {}).get("status") == "True"
            ),
            what="Ready again",
        )


def test_an_unreachable_registry_is_a_warning_not_a_failure(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    create_manager(custom, namespace, manager_body("m", [_entry("far", nowhere, PASSWORD)]))
    manager = _wait_for_verdicts(custom, namespace, "m", {"far": "Unreachable"})
    assert _password(core, namespace, "far") == PASSWORD
    eventually(
        lambda: (
            (ready_condition(get_manager(custom, namespace, "m")) or {}).get("status") == "True"
        ),
        what="Ready despite the unreachable registry",
    )
    ready = ready_condition(get_manager(custom, namespace, "m"))
    assert ready is not None
    assert "not verified" in ready["message"]
    assert "connection refused" in str(manager["status"]["entries"])
    # Told once, although the first pass (it marked the account) left its status report, and
    # with it the verdict, to the next pass.
    unreachable = [e for e in events_for(core, namespace, "m") if e.reason == "RegistryUnreachable"]
    assert len(unreachable) == 1


class _Listener:
    """A TCP port that counts who connects to it (and answers nothing)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def test_hosts_the_admin_did_not_list_are_never_contacted(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    listener = _Listener()
    try:
        # `localhost:<port>` is the same loopback port, but not a listed host (127.0.0.1:*).
        probe = f"localhost:{listener.port}"
        create_manager(custom, namespace, manager_body("m", [_entry("probe", probe, PASSWORD)]))
        _wait_for_verdicts(custom, namespace, "m", {"probe": "Skipped"})
        entry = _entries(custom, namespace, "m")["probe"]
        assert "--verify-host" in entry["verification"]["message"]
        assert entry["ready"] is True
        assert _password(core, namespace, "probe") == PASSWORD
        assert listener.connections == 0
        # A change of spec is another pass: still nobody connects.
        patch_spec(custom, namespace, "m", {"verification": "Enforce"})
        eventually(
            lambda: get_manager(custom, namespace, "m")["status"].get("observedGeneration") == 2,
            what="the new spec reconciled",
        )
        assert listener.connections == 0
        stored = core.read_namespaced_secret("probe", namespace)
        assert base64.b64decode(stored.data[".dockerconfigjson"])
    finally:
        listener.sock.close()
