"""One namespace that refuses writes neither stalls a manager nor hides why (issue 12)."""

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cheiron import API_GROUP, API_VERSION
from tests.support.managers import (
    create_manager,
    delete_manager,
    docker_config,
    events_for,
    get_manager,
    inline,
    manager_body,
    ready_condition,
    wait_for_pull_secrets,
)
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

REFUSE_LABEL = "cheiron-test/refuse-secrets"


@pytest.fixture
def refusing_policy(api_client: client.ApiClient) -> Iterator[str]:
    """A ValidatingAdmissionPolicy refusing Secret writes in namespaces labelled with its value.

    What Kyverno, Gatekeeper or a quota do to a namespace: the API server answers 403.
    """
    api = client.AdmissionregistrationV1Api(api_client)
    value = uuid.uuid4().hex[:8]
    name = f"refuse-secrets-{value}"
    api.create_validating_admission_policy(
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["secrets"],
                        }
                    ]
                },
                "validations": [
                    # Forbidden, as admission webhooks answer by default (403).
                    {"expression": "false", "message": "no Secrets here", "reason": "Forbidden"}
                ],
            },
        }
    )
    api.create_validating_admission_policy_binding(
        {
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {REFUSE_LABEL: value}}},
            },
        }
    )
    yield value
    for delete in (
        api.delete_validating_admission_policy_binding,
        api.delete_validating_admission_policy,
    ):
        try:
            delete(name)
        except ApiException as e:
            if e.status != 404:
                raise


def _refused(core: client.CoreV1Api, namespace: str) -> bool:
    """Whether the policy is in force in `namespace` yet (it takes a moment to load)."""
    probe = client.V1Secret(metadata=client.V1ObjectMeta(generate_name="probe-"))
    try:
        made = core.create_namespaced_secret(namespace, probe)
    except ApiException as e:
        return e.status == 403
    core.delete_namespaced_secret(made.metadata.name, namespace)
    return False


def _password(core: client.CoreV1Api, namespace: str) -> str:
    secret = core.read_namespaced_secret("reg", namespace)
    return str(docker_config(secret)["auths"]["ghcr.io"]["password"])


def test_a_refusing_namespace_is_named_and_the_others_are_served_and_rotated(  # noqa: PLR0917
    operator: OperatorProcess,
    api_client: client.ApiClient,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    refusing_policy: str,
) -> None:
    a, b, c = (f"{namespace}-{x}" for x in "abc")
    for ns in (a, b, c):
        labels = {REFUSE_LABEL: refusing_policy} if ns == b else None
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels=labels))
        )
    eventually(lambda: _refused(core, b), what="the policy in force")
    name = f"iso-{uuid.uuid4().hex[:6]}"
    body = manager_body(name, [inline("reg", password="one")], cluster=True)
    body["spec"]["target"] = {"namespaces": {"names": [a, b, c]}}
    create_manager(custom, None, body)
    try:
        for ns in (a, c):
            wait_for_pull_secrets(core, ns, ["reg"])
        status = eventually(
            lambda: (
                (s := get_manager(custom, None, name).get("status") or {}).get("refusedNamespaces")
                == 1
                and s
            ),
            what="status naming the refusing namespace",
        )
        assert status["phase"] == "Degraded"
        assert status["refusals"] == [f"{b}: create of Secret reg refused (403 Forbidden)"]
        condition = ready_condition(get_manager(custom, None, name))
        assert condition is not None
        assert (condition["status"], condition["reason"]) == ("False", "WriteRefused")
        assert b in condition["message"]
        eventually(
            lambda: any(e.reason == "WriteRefused" for e in events_for(core, "default", name)),
            what="a WriteRefused Event",
        )

        # A rotation reaches every namespace that accepts it, in the same passes.
        custom.patch_cluster_custom_object(
            API_GROUP,
            API_VERSION,
            "clusterimagepullsecretmanagers",
            name,
            {"spec": {"secrets": [inline("reg", password="two")]}},
        )
        for ns in (a, c):
            eventually(lambda ns=ns: _password(core, ns) == "two", what=f"rotated in {ns}")

        # The refusal lifted: the namespace is served at its next try (backoff from 5 s).
        core.patch_namespace(b, {"metadata": {"labels": {REFUSE_LABEL: None}}})
        wait_for_pull_secrets(core, b, ["reg"], timeout=90)
        eventually(
            lambda: (get_manager(custom, None, name).get("status") or {}).get("phase") == "Ready",
            what="Ready once every namespace took its Secret",
        )
        assert get_manager(custom, None, name)["status"]["refusals"] == []
    finally:
        delete_manager(custom, None, name)
        for ns in (a, b, c):
            core.delete_namespace(ns)
