"""ECR entries end to end: moto over HTTP, the real apiserver, the operator as a process."""

import datetime
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from cheiron import API_GROUP, API_VERSION
from cheiron.devcluster import ControlPlane
from tests.support.managers import (
    CLUSTER_PLURAL,
    create_manager,
    delete_manager,
    docker_config,
    events_for,
    get_manager,
    inline,
    manager_body,
    pull_secrets,
    ready_condition,
    set_secrets,
    wait_for_pull_secrets,
)
from tests.support.moto import ACCOUNT, REGION, REGISTRY, TOKEN_PASSWORD, MotoServer
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, gone
from tests.support.proxy import tarpit

WRONG_SECRET = "wrong-secret-key-never-logged"


@pytest.fixture(scope="module")
def ecr_operator(
    control_plane: ControlPlane,
    crds: None,
    moto: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator with eatr compatibility on and AWS's default chain pointed at moto."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    env = {
        "AWS_ACCESS_KEY_ID": moto.access_key_id,
        "AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
        "AWS_ENDPOINT_URL_ECR": moto.url,
    }
    # moto is plain http on loopback: the admin allows that host for namespaced managers.
    host = ("--ecr-endpoint-host", moto.url.removeprefix("http://"))
    with OperatorProcess(
        control_plane.kubeconfig_path, log_path, ("--eatr-namespace-labels", *host), env
    ) as proc:
        yield proc


def _auths(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any]:
    auths: dict[str, Any] = docker_config(core.read_namespaced_secret(name, namespace))["auths"]
    return auths


def _imps_secret(core: client.CoreV1Api, namespace: str, key_id: str, secret_key: str) -> None:
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name="aws-creds"),
        string_data={
            "accessKeyID": key_id,
            "secretKey": secret_key,
            "region": REGION,
            "accountID": ACCOUNT,
        },
    )
    try:
        core.read_namespaced_secret("aws-creds", namespace)
        core.replace_namespaced_secret("aws-creds", namespace, body)
    except client.ApiException:
        core.create_namespaced_secret(namespace, body)


def _ecr_entry(moto: MotoServer) -> dict[str, Any]:
    """An ECR entry with its keys in the `aws-creds` Secret, against moto."""
    return {
        "name": "ecr",
        "ecr": {"credentialsSecretRef": {"name": "aws-creds"}, "endpointURL": moto.url},
    }


def test_token_from_imps_secret_and_a_failure_that_keeps_it(
    ecr_operator: OperatorProcess,
    moto: MotoServer,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    _imps_secret(core, namespace, moto.access_key_id, moto.secret_access_key)
    entry = _ecr_entry(moto)
    create_manager(custom, namespace, manager_body("m", [entry]))
    wait_for_pull_secrets(core, namespace, ["ecr"])

    auth = _auths(core, namespace, "ecr")[REGISTRY]
    assert (auth["username"], auth["password"]) == ("AWS", TOKEN_PASSWORD)
    status = eventually(
        lambda: (get_manager(custom, namespace, "m").get("status") or {}).get("entries"),
        what="entry status",
    )[0]
    assert status["ready"] is True
    # moto's tokens claim to have expired in 2015: cheiron then assumes AWS's 12 hours.
    assert status["expiresAt"] == "2015-01-01T00:00:00Z"
    renew = datetime.datetime.fromisoformat(status["renewAt"].replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.UTC)
    # Half of 12 hours, give or take the jitter of 10 % of the lifetime (1.2 hours).
    assert datetime.timedelta(hours=4.75) < renew - now < datetime.timedelta(hours=7.25)
    version = core.read_namespaced_secret("ecr", namespace).metadata.resource_version

    # New (wrong) keys: a new token is needed, AWS refuses, the old one stays in place.
    _imps_secret(core, namespace, "AKIAWRONGWRONGWRONG0", WRONG_SECRET)
    condition = eventually(
        lambda: (
            (c := ready_condition(get_manager(custom, namespace, "m")))
            and c["status"] == "False"
            and c
        ),
        what="Ready=False after the keys broke",
    )
    assert condition["reason"] == "EcrError"
    assert "InvalidClientTokenId" in condition["message"]
    assert core.read_namespaced_secret("ecr", namespace).metadata.resource_version == version
    assert pull_secrets(core, namespace) == ["ecr"]
    eventually(
        lambda: any(e.reason == "EcrError" for e in events_for(core, namespace, "m")),
        what="EcrError event",
    )

    _imps_secret(core, namespace, moto.access_key_id, moto.secret_access_key)
    eventually(
        lambda: (
            (c := ready_condition(get_manager(custom, namespace, "m"))) and c["status"] == "True"
        ),
        what="Ready again with good keys",
    )

    # Neither the AWS secret keys nor the token show up anywhere a user can read.
    visible = [
        ecr_operator.logs(),
        json.dumps(get_manager(custom, namespace, "m")),
        json.dumps([e.message for e in events_for(core, namespace, "m")]),
    ]
    for text in visible:
        for secret in (moto.secret_access_key, WRONG_SECRET, TOKEN_PASSWORD):
            assert secret not in text


def test_a_namespaced_manager_may_not_borrow_the_operators_aws_identity(
    ecr_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """The operator's own keys (here: its environment, as IRSA would be) are not a tenant's."""
    borrow = {"name": "ecr", "ecr": {"registry": REGISTRY}}
    create_manager(custom, namespace, manager_body("m", [borrow, inline("hub", "docker.io")]))
    wait_for_pull_secrets(core, namespace, ["hub"])
    entry = eventually(
        lambda: (
            _entry_status(custom, namespace, "ecr").get("reason") == "NotAllowed"
            and _entry_status(custom, namespace, "ecr")
        ),
        what="the ECR entry refused",
    )
    assert "credentialsSecretRef" in entry["message"]
    assert "ecr" not in [s.metadata.name for s in core.list_namespaced_secret(namespace).items]


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"secretKey": ""}, "secretKey"),
        ({"secretKey": "   "}, "secretKey"),
        ({"accessKeyID": " "}, "accessKeyID"),
        ({"accessKeyID": "", "secretKey": "", "sessionToken": "FwoGZXIvYXdz"}, "accessKeyID"),
    ],
    ids=["empty-secret", "blank-secret", "blank-id", "session-token-alone"],
)
def test_incomplete_keys_never_fall_back_to_the_operators_identity(  # noqa: PLR0917 - fixtures
    ecr_operator: OperatorProcess,
    moto: MotoServer,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    keys: dict[str, str],
    named: str,
) -> None:
    """The operator's environment holds working keys; a tenant's half-empty Secret is no key.

    Before, an access key id with an empty or blank secret passed the policy (which checked
    only the id) while boto3 took the environment's keys (it used the Secret's only when
    both were set): the tenant got a token minted with the operator's identity.
    """
    shape = {
        "accessKeyID": moto.access_key_id,
        "secretKey": "placeholder",
        "region": REGION,
        "accountID": ACCOUNT,
        **keys,
    }
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="aws-creds"), string_data=shape)
    core.create_namespaced_secret(namespace, body)
    before = moto.requests()
    create_manager(
        custom, namespace, manager_body("m", [_ecr_entry(moto), inline("hub", "docker.io")])
    )
    wait_for_pull_secrets(core, namespace, ["hub"])
    entry = eventually(
        lambda: (e := _entry_status(custom, namespace, "ecr")).get("reason") and e,
        what="the ECR entry's outcome in status",
    )
    assert (entry["ready"], entry["reason"]) == (False, "IncompleteAwsKeys")
    assert named in entry["message"]
    assert "ecr" not in [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
    # Refused before any call: moto answered nothing for this manager.
    assert moto.requests() == before


def _entry_status(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    entries = (get_manager(custom, namespace, "m").get("status") or {}).get("entries", [])
    return next((e for e in entries if e["name"] == name), {})


def _at(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_failing_entry_backs_off_in_status_and_the_others_still_work(
    ecr_operator: OperatorProcess,
    moto: MotoServer,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    _imps_secret(core, namespace, "AKIAWRONGWRONGWRONG0", WRONG_SECRET)
    entry = _ecr_entry(moto)
    create_manager(custom, namespace, manager_body("m", [entry, inline("hub", "docker.io")]))
    wait_for_pull_secrets(core, namespace, ["hub"])

    retries = []
    for failures in (1, 2, 3):
        seen = eventually(
            lambda n=failures: (
                (e := _entry_status(custom, namespace, "ecr")).get("failures") == n and e
            ),
            what=f"the ECR entry failed {failures} times",
        )
        assert (seen["ready"], seen["reason"]) == (False, "EcrError")
        retries.append(_at(seen["retryAt"]))
        assert get_manager(custom, namespace, "m")["status"]["phase"] == "Degraded"
    # Degraded, the manager tries the entry again only once its backoff ran out, and the
    # backoff doubles: 5 s, 10 s, 20 s (a retry never comes early; the times are whole
    # seconds).
    assert retries[1] - retries[0] >= datetime.timedelta(seconds=9)
    assert retries[2] - retries[1] >= datetime.timedelta(seconds=19)
    assert pull_secrets(core, namespace) == ["hub"]

    # Good keys (a changed input, which wakes the manager): the entry recovers, and its
    # failure count and retry time leave status.
    _imps_secret(core, namespace, moto.access_key_id, moto.secret_access_key)
    wait_for_pull_secrets(core, namespace, ["ecr", "hub"])
    fixed = eventually(
        lambda: (e := _entry_status(custom, namespace, "ecr")).get("ready") and e,
        what="the ECR entry ready in status",
    )
    assert "failures" not in fixed
    assert "retryAt" not in fixed


@pytest.fixture
def cluster_ecr(custom: client.CustomObjectsApi) -> Iterator[str]:
    """A cluster manager with an ECR entry (default AWS chain) and an inline entry."""
    name = f"ecr-{uuid.uuid4().hex[:6]}"
    body = manager_body(
        name,
        [{"name": "ecr-pull", "ecr": {"registry": REGISTRY}}, inline("hub-pull", "docker.io")],
        cluster=True,
    )
    # A target that matches nothing: only eatr labels bring namespaces in.
    body["spec"]["target"] = {"namespaces": {"names": ["nowhere"]}}
    create_manager(custom, None, body)
    yield name
    delete_manager(custom, None, name)


def test_eatr_label_brings_in_the_secret_for_that_registry_only(
    ecr_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    cluster_ecr: str,
    namespace: str,
) -> None:
    eventually(lambda: core.read_namespaced_service_account("default", namespace))
    core.patch_namespace(namespace, {"metadata": {"labels": {REGISTRY: "true"}}})
    wait_for_pull_secrets(core, namespace, ["ecr-pull"])
    assert _auths(core, namespace, "ecr-pull")[REGISTRY]["username"] == "AWS"
    names = [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
    assert "hub-pull" not in names
    condition = eventually(
        lambda: ready_condition(get_manager(custom, None, cluster_ecr)), what="condition"
    )
    assert condition["status"] == "True"

    core.patch_namespace(namespace, {"metadata": {"labels": {REGISTRY: None}}})
    wait_for_pull_secrets(core, namespace, [])
    eventually(
        lambda: (
            "ecr-pull"
            not in [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
        ),
        what="eatr Secret removed with the label",
    )


BLACK_HOLED = 30  # more managers than the operator has threads for Kubernetes calls


def test_black_holed_ecr_endpoints_delay_only_their_own_managers(
    ecr_operator: OperatorProcess,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """Managers whose ECR endpoint never answers hold AWS threads, never everybody's.

    Before, every ECR call ran on the pool that Kubernetes calls use, with botocore's
    60 s deadlines: thirty such managers stopped every other manager for minutes.
    """
    create_manager(custom, namespace, manager_body("m", [inline("reg", password="one")]))
    wait_for_pull_secrets(core, namespace, ["reg"])
    prefix = f"pit-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:02d}" for i in range(BLACK_HOLED)]
    with tarpit() as pit:
        for name in names:
            body = manager_body(
                name,
                [{"name": name, "ecr": {"registry": REGISTRY, "endpointURL": pit.url}}],
                cluster=True,
            )
            body["spec"]["target"] = {"namespaces": {"names": [namespace]}}
            create_manager(custom, None, body)
        try:
            eventually(lambda: pit.held_connections >= 1, what="ECR calls held by the tarpit")
            # A rotation and a new manager, while those calls hang: served at once.
            set_secrets(custom, namespace, "m", [inline("reg", password="two")])
            create_manager(custom, namespace, manager_body("n", [inline("other")]))
            in_flight = []

            def rotated() -> bool:
                in_flight.append(pit.held_connections)
                return bool(_auths(core, namespace, "reg")["ghcr.io"]["password"] == "two")

            eventually(rotated, timeout=15, what="the rotation, while thirty ECR endpoints hang")
            wait_for_pull_secrets(core, namespace, ["other", "reg"], timeout=15)
            # A few calls per endpoint in flight at most; the other managers wait threadless.
            assert 1 <= max(in_flight) <= 4

            # And each call has a deadline: the entry fails with a reason, not never.
            def failed_entry() -> dict[str, Any] | None:
                for name in names:
                    status = get_manager(custom, None, name).get("status") or {}
                    for entry in status.get("entries", []):
                        if entry.get("reason") == "EcrError":
                            return dict(entry)
                return None

            failed = eventually(
                failed_entry, timeout=90, what="a black-holed entry failing at its deadline"
            )
            assert "Timeout" in failed["message"]
        finally:
            for name in names:
                custom.delete_cluster_custom_object(API_GROUP, API_VERSION, CLUSTER_PLURAL, name)
    for name in names:
        eventually(gone(lambda n=name: get_manager(custom, None, n)), what=f"{name} deleted")
