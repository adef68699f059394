"""Verification cannot be turned against others: not their passes, not their accounts.

Real registries on loopback (htpasswd), a tarpit for a black-holed one; the module's operator
may ask only 127.0.0.1 (tests/support/operator.VERIFY_LOOPBACK_ONLY).
"""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from cheiron.dockerconfig import DockerConfig
from tests.support.managers import (
    CLUSTER_PLURAL,
    create_manager,
    get_manager,
    manager_body,
    pull_password,
    set_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.proxy import tarpit
from tests.support.registry import Registry

USER, PASSWORD, NEW_PASSWORD = "robot", "isolation-pass-4711", "isolation-pass-0815"
# 25 existing pull Secrets of 8 logins each: 200 credentials for one black-holed registry.
PIT_SECRETS, PIT_LOGINS = 25, 8
# The operator's cap on failed logins per account and hour (CheckLimits.failed_logins).
FAILED_LOGIN_CAP = 5


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A registry of the test's own (htpasswd): no other test's logins on its account."""
    with Registry(auth=(USER, PASSWORD)) as registry:
        yield registry


def _entry(name: str, registry: str, password: str, user: str = USER) -> dict[str, str]:
    return {"name": name, "registry": registry, "username": user, "password": password}


def _entries(custom: client.CustomObjectsApi, namespace: str | None, name: str) -> dict[str, Any]:
    status = get_manager(custom, namespace, name).get("status") or {}
    return {e["name"]: e for e in status.get("entries", [])}


def _verification(
    custom: client.CustomObjectsApi, namespace: str | None, name: str, entry: str
) -> dict[str, Any]:
    return dict(_entries(custom, namespace, name).get(entry, {}).get("verification") or {})


def _failed_logins(registry: Registry, user: str) -> int:
    """Logins the registry refused for `user` (its log has a line for each)."""
    return registry.logs().count(f'error authenticating user \\"{user}\\"')


def _pull_secret(core: client.CoreV1Api, namespace: str, name: str, payload: bytes) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": payload.decode()},
        ),
    )


def test_a_black_holed_registry_delays_nobody_elses_rotation(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    registry: Registry,
) -> None:
    """200 credentials for a registry that never answers hold no other check, nor the pass.

    Before, every check waited for one of four process-wide slots, each held up to 20 s by
    the tarpit, and a pass waited for every check of its entries: the other manager's
    rotation, and the black-holed manager's own other entry, waited many minutes.
    """
    create_manager(custom, namespace, manager_body("m", [_entry("reg", registry.host, PASSWORD)]))
    eventually(
        lambda: _verification(custom, namespace, "m", "reg").get("result") == "Verified",
        what="the unrelated manager verified",
    )
    with tarpit() as pit:
        pit_host = f"127.0.0.1:{pit.port}"
        for i in range(PIT_SECRETS):
            auths = {
                f"{pit_host}/r{j}": (f"user-{i}-{j}", f"pit-{uuid.uuid4().hex}")
                for j in range(PIT_LOGINS)
            }
            payload = json.dumps(
                {"auths": {k: {"username": u, "password": p} for k, (u, p) in auths.items()}}
            ).encode()
            DockerConfig.parse(payload)  # a valid dockerconfigjson
            _pull_secret(core, namespace, f"pit-{i:02d}", payload)
        pit_entries = [{"existingSecretRef": {"name": f"pit-{i:02d}"}} for i in range(PIT_SECRETS)]
        own = _entry("own", registry.host, PASSWORD)
        create_manager(custom, namespace, manager_body("pit", [*pit_entries, own]))
        eventually(lambda: pit.held_connections >= 1, what="checks held by the tarpit")

        # The registry's password changes; both managers rotate to it, and a new one starts.
        registry.change_password(NEW_PASSWORD)
        set_secrets(custom, namespace, "m", [_entry("reg", registry.host, NEW_PASSWORD)])
        set_secrets(
            custom, namespace, "pit", [*pit_entries, _entry("own", registry.host, NEW_PASSWORD)]
        )
        create_manager(
            custom, namespace, manager_body("n", [_entry("new", registry.host, NEW_PASSWORD)])
        )
        in_flight: list[int] = []

        def landed() -> bool:
            in_flight.append(pit.held_connections)
            return (
                pull_password(core, namespace, "reg") == NEW_PASSWORD
                and pull_password(core, namespace, "own") == NEW_PASSWORD
                and pull_password(core, namespace, "new") == NEW_PASSWORD
            )

        eventually(landed, timeout=15, what="the rotations, while 200 checks hang")
        eventually(
            lambda: _verification(custom, namespace, "m", "reg").get("result") == "Verified",
            timeout=15,
            what="the rotated credentials verified",
        )
        # At most two checks per host in flight (and one of them per manager).
        assert max(in_flight) <= 2

        # The black-holed host is asked once per backoff, not by every entry at every pass.
        def backed_off() -> list[dict[str, Any]] | None:
            rows = [
                (e.get("verification") or {})
                for name, e in _entries(custom, namespace, "pit").items()
                if name.startswith("pit-")
            ]
            done = [r for r in rows if r.get("result") == "Unreachable"]
            return rows if len(done) == PIT_SECRETS else None

        rows = eventually(backed_off, timeout=90, what="the pit's entries Unreachable")
        not_asked = [r for r in rows if "not asked" in r.get("message", "")]
        assert len(not_asked) >= PIT_SECRETS - 2
        assert pit.held_connections <= 2
        # Warn: the credentials are there all the same, used in place.
        assert _entries(custom, namespace, "pit")["own"]["ready"] is True


def test_wrong_passwords_for_one_account_stay_under_the_cap(
    operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    namespace: str,
    registry: Registry,
) -> None:
    """However many managers try wrong passwords for an account, it sees few failed logins.

    Before, each of the 16 wrong passwords was tried: 16 failed logins for `robot` in a
    minute, where Harbor, Artifactory, GitLab or Nexus lock the account after a few.
    """
    managers = [f"t{i}" for i in range(8)]
    for i, name in enumerate(managers):
        entries = [
            _entry(f"e{j}", registry.host, f"wrong-{i}-{j}-{uuid.uuid4().hex}") for j in (0, 1)
        ]
        create_manager(custom, namespace, manager_body(name, entries))

    def verdicts() -> list[dict[str, Any]] | None:
        rows = [
            _verification(custom, namespace, name, entry)
            for name in managers
            for entry in ("e0", "e1")
        ]
        answered = [r for r in rows if r.get("result") in {"Rejected", "Skipped"}]
        capped = [r for r in rows if "too many failed logins" in r.get("message", "")]
        return rows if len(answered) == len(rows) and capped else None

    rows = eventually(verdicts, timeout=60, what="every entry rejected or not asked")
    rejected = [r for r in rows if r["result"] == "Rejected"]
    skipped = [r for r in rows if r["result"] == "Skipped"]
    assert 1 <= len(rejected) <= FAILED_LOGIN_CAP
    for row in skipped:
        assert row["message"] == (
            f"not asked: too many failed logins for {USER} at {registry.host} this hour"
        )
    # What the registry saw, not what the operator says.
    assert 1 <= _failed_logins(registry, USER) <= FAILED_LOGIN_CAP


def test_a_tenant_is_never_verified_with_a_cluster_managers_username(
    operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    namespace: str,
    registry: Registry,
) -> None:
    """A username a cluster manager uses at a host is not one a tenant can make fail there."""
    cluster = f"shared-{uuid.uuid4().hex[:6]}"
    body = manager_body(cluster, [_entry("shared", registry.host, PASSWORD)], cluster=True)
    body["spec"]["target"] = {"namespaces": {"names": [namespace]}}
    create_manager(custom, None, body)
    try:
        eventually(
            lambda: _verification(custom, None, cluster, "shared").get("result") == "Verified",
            what="the cluster manager verified",
        )
        tenant = [
            _entry("guess", registry.host, f"guess-{uuid.uuid4().hex}"),
            _entry("theirs", registry.host, "their-own-4711", user="tenant-robot"),
        ]
        create_manager(custom, namespace, manager_body("tenant", tenant))
        eventually(
            lambda: (
                _verification(custom, namespace, "tenant", "theirs").get("result") == "Rejected"
            ),
            what="the tenant's own username verified",
        )
        guess = eventually(
            lambda: _verification(custom, namespace, "tenant", "guess") or None,
            what="the guess's verdict",
        )
        assert guess["result"] == "Skipped"
        assert f"{USER} is a username a cluster manager uses at {registry.host}" in guess["message"]
        # The registry never saw a failed login for the shared account.
        assert _failed_logins(registry, USER) == 0
        assert _failed_logins(registry, "tenant-robot") >= 1
    finally:
        custom.delete_cluster_custom_object(API_GROUP, API_VERSION, CLUSTER_PLURAL, cluster)


def test_enforce_writes_nothing_the_registry_has_not_answered_about(
    operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """Without an answer yet, Enforce waits (that entry only); the answer's arrival acts."""
    with tarpit() as pit:
        host = f"127.0.0.1:{pit.port}"
        body = manager_body("strict", [_entry("slow", host, PASSWORD)])
        body["spec"]["verification"] = "Enforce"
        create_manager(custom, namespace, body)
        waiting = eventually(
            lambda: _entries(custom, namespace, "strict").get("slow"), what="the entry reported"
        )
        assert waiting["reason"] == "VerificationPending"
        assert waiting["ready"] is False
        assert "not verified yet" in waiting["verification"]["message"]
        assert pull_password(core, namespace, "slow") is None
        # The check's deadline is the registry's answer: unreachable, which Enforce writes.
        eventually(
            lambda: pull_password(core, namespace, "slow") == PASSWORD,
            timeout=90,
            what="the entry written once its registry's silence is the answer",
        )
        # The pass that wrote it reports its status a moment later ("status follows").
        eventually(
            lambda: _verification(custom, namespace, "strict", "slow")["result"] == "Unreachable",
            what="the registry's silence, Unreachable, in status",
        )
