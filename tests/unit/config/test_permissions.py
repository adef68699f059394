"""cheiron/k8s/permissions.py lists every API call the code makes, and nothing more."""

import ast
import re
from pathlib import Path

import kopf
import pytest
from kubernetes import client

from cheiron.cli import build_parser
from cheiron.k8s.permissions import LEASE_NAME, PERMISSIONS, WEBHOOK_CONFIGURATION_NAME
from cheiron.operator import Options, WebhookOptions
from cheiron.runtime.caches import build_caches

ROOT = Path(__file__).parents[3]
KUBE_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
# Official client methods: verb prefix, then the resource in singular snake case.
CLIENT_CALL = re.compile(
    r"^(?P<verb>read|get|list|create|patch|replace|delete)_(?P<scope>namespaced_|cluster_)?"
    r"(?P<resource>.+?)(?:_for_all_namespaces)?$"
)
CLIENT_VERBS = {"read": "get", "replace": "update"}
# How cheiron names its API objects.
CLIENT_APIS = {"core", "custom", "admission", "apps", "coordination"}
RESOURCES = {
    "secret": {"secrets"},
    "namespace": {"namespaces"},
    "service_account": {"serviceaccounts"},
    "pod": {"pods"},
    "event": {"events"},
    "mutating_webhook_configuration": {"mutatingwebhookconfigurations"},
    "custom_object_status": {
        "imagepullsecretmanagers/status",
        "clusterimagepullsecretmanagers/status",
        "clusterimagebackups/status",
    },
    # The custom objects cheiron writes itself: a backup's pull-Secret manager, and the
    # managers' finalizers (cheiron.controllers.lifecycles).
    "custom_object": {"clusterimagepullsecretmanagers"},
    "namespaced_custom_object": {"imagepullsecretmanagers"},
    "deployment": {"deployments"},
    "daemon_set": {"daemonsets"},
    "stateful_set": {"statefulsets"},
    "lease": {"leases"},
}


def _table() -> set[tuple[str, str]]:
    return {(p.resource, verb) for p in PERMISSIONS for verb in p.verbs}


def test_table_lists_each_grant_once_with_real_verbs() -> None:
    seen: set[tuple[str, str, str, str | None]] = set()
    for p in PERMISSIONS:
        assert p.why, p
        assert set(p.verbs) <= KUBE_VERBS, p
        for verb in p.verbs:
            for name in p.resource_names or (None,):
                grant = (p.group, p.resource, verb, name)
                assert grant not in seen, grant
                seen.add(grant)
    assert "*" not in {g for grant in seen for g in grant}


def test_webhook_configuration_name_is_the_operators() -> None:
    assert WebhookOptions(port=9443).configuration_name == WEBHOOK_CONFIGURATION_NAME


def test_lease_name_is_the_operators_default() -> None:
    assert Options().lease_name == LEASE_NAME
    assert build_parser().parse_args(["run"]).lease_name == LEASE_NAME


def _client_calls() -> set[tuple[str, str]]:
    calls: set[tuple[str, str]] = set()
    for path in (ROOT / "cheiron").rglob("*.py"):
        if "devcluster" in path.parts:
            continue  # dev tooling with its own admin identity, not the operator
        if "migrate" in path.parts or path.name == "peers.py":
            continue  # `cheiron migrate` reads other tools' objects as the user running it
        for node in ast.walk(ast.parse(path.read_text())):
            # Attributes, not only calls: Kube passes some methods to a helper that calls them.
            if not isinstance(node, ast.Attribute):
                continue
            receiver = node.value
            name = receiver.attr if isinstance(receiver, ast.Attribute) else None
            name = receiver.id if isinstance(receiver, ast.Name) else name
            match = CLIENT_CALL.match(node.attr)
            if name in CLIENT_APIS and match:
                verb = CLIENT_VERBS.get(match["verb"], match["verb"])
                scoped = RESOURCES.get(f"{match['scope'] or ''}{match['resource']}")
                calls |= {(r, verb) for r in scoped or RESOURCES[match["resource"]]}
    return calls


def test_every_client_call_in_the_code_is_in_the_table() -> None:
    calls = _client_calls()
    # The scan must see the calls it is meant to see, or it proves nothing.
    assert {
        ("secrets", "create"),
        ("pods", "patch"),
        ("mutatingwebhookconfigurations", "update"),
        ("leases", "update"),
    } <= calls
    assert calls - _table() == set()


def _informed() -> set[str]:
    """Resources the operator's own informers list and watch (a cluster-wide operator)."""
    caches = build_caches(client.ApiClient(client.Configuration()))
    # `secrets:metadata` lists the same resource as `secrets`, metadata only.
    return {informer.name.split(":")[0] for informer in caches.informers}


@pytest.fixture(scope="module")
def kopf_selectors() -> dict[str, set[str]]:
    """Resources kopf watches for cheiron's handlers, by handler kind; informers as "informing"."""
    from cheiron.controllers import backup  # noqa: PLC0415

    backup.watch_backups()  # what `cheiron run --all-namespaces` adds
    registry = kopf.get_default_registry()
    # kopf has no public listing of registered handlers; its observer reads these too.
    kinds = {
        "indexing": registry._indexing,
        "watching": registry._watching,
        "spawning": registry._spawning,
        "changing": registry._changing,
    }
    watched = {
        kind: {h.selector.any_name for h in reg.get_all_handlers() if h.selector}
        for kind, reg in kinds.items()
    }
    return {**watched, "informing": _informed()}


def test_every_kopf_watch_is_in_the_table(kopf_selectors: dict[str, set[str]]) -> None:
    watched = set().union(*kopf_selectors.values())
    assert {"namespaces", "pods", "clusterimagepullsecretmanagers"} <= watched
    # The bulk kinds are the informers' alone: kopf's per-object machinery never sees them.
    assert kopf_selectors["informing"] >= {"namespaces", "secrets", "serviceaccounts", "pods"}
    kopf_watched = set().union(*(v for k, v in kopf_selectors.items() if k != "informing"))
    assert not kopf_watched & {"namespaces", "secrets", "serviceaccounts", "pods", "deployments"}
    needed = {(r, v) for r in watched for v in ("list", "watch")}
    # Backups' daemons: kopf patches their finalizers and its annotations.
    needed |= {(r, "patch") for r in kopf_selectors["spawning"] | kopf_selectors["changing"]}
    assert needed - _table() == set()


def test_table_has_nothing_the_code_does_not_do(kopf_selectors: dict[str, set[str]]) -> None:
    watched = set().union(*kopf_selectors.values())
    done = _client_calls() | {(r, v) for r in watched for v in ("list", "watch")}
    done |= {(r, "patch") for r in kopf_selectors["spawning"] | kopf_selectors["changing"]}
    # kopf's resource observer (list/watch CRDs) is the one need not visible in cheiron's code.
    done |= {("customresourcedefinitions", "list"), ("customresourcedefinitions", "watch")}
    assert _table() - done == set()
