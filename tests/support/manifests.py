"""Renders the install manifests (kustomize, helm) and reads RBAC and the operator out of them."""

import argparse
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from cheiron.cli import build_parser
from cheiron.k8s.permissions import PERMISSIONS, Scope
from tests.support.tools import ROOT, helm, kubectl

CONFIG = ROOT / "config"
CHART = ROOT / "charts" / "cheiron"
ACCOUNT = "cheiron"
CLUSTER = "<cluster>"  # where a ClusterRoleBinding grants, as opposed to one namespace

# (API group, resource, verb, resource name or None): one thing an identity may do.
Grant = tuple[str, str, str, str | None]
Obj = dict[str, Any]


def _documents(text: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(path: Path) -> list[Obj]:
    """`kubectl kustomize path`, as objects."""
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(path)], check=True, capture_output=True, text=True
    )
    return _documents(done.stdout)


def kustomize_in(base: Path, namespace: str, workdir: Path) -> list[Obj]:
    """Render `base` through an overlay of one line, `namespace:`, as a user would."""
    workdir.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(base, workdir)  # kustomize refuses absolute resource paths
    (workdir / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": namespace, "resources": [relative]})
    )
    return kustomize(workdir)


def helm_template(namespace: str, values: Mapping[str, str] | None = None) -> list[Obj]:
    """`helm template` of charts/cheiron into `namespace`, with `--set` values."""
    sets = [f"--set={k}={v}" for k, v in (values or {}).items()]
    done = subprocess.run(
        [str(helm()), "template", "cheiron", str(CHART), "--namespace", namespace, *sets],
        check=True,
        capture_output=True,
        text=True,
    )
    return _documents(done.stdout)


def find(objects: Iterable[Obj], kind: str, name: str | None = None) -> list[Obj]:
    """The objects of a kind (and name)."""
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    """The one object of a kind (and name)."""
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# --- RBAC ------------------------------------------------------------------------------


def flatten(rules: Iterable[Mapping[str, Any]]) -> set[Grant]:
    """Every (group, resource, verb, name) a list of policy rules allows."""
    grants: set[Grant] = set()
    for rule in rules:
        assert not rule.get("nonResourceURLs"), "cheiron needs no non-resource URLs"
        names: list[str | None] = list(rule.get("resourceNames") or [None])
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    grants |= {(group, resource, verb, name) for name in names}
    return grants


def granted(objects: list[Obj], namespace: str) -> dict[str, set[Grant]]:
    """What the install's bindings give ServiceAccount `cheiron` of `namespace`, by scope.

    Keys are CLUSTER (ClusterRoleBindings) or a namespace (RoleBindings). A binding to a
    role the install does not define fails: it would grant something nobody reviewed.
    """
    out: dict[str, set[Grant]] = defaultdict(set)
    for binding in find(objects, "ClusterRoleBinding") + find(objects, "RoleBinding"):
        subjects = binding.get("subjects") or []
        if not any(
            s["kind"] == "ServiceAccount"
            and s["name"] == ACCOUNT
            and s.get("namespace") == namespace
            for s in subjects
        ):
            continue
        assert len(subjects) == 1, f"{binding['metadata']['name']} binds more than cheiron"
        ref = binding["roleRef"]
        candidates = [
            r
            for r in find(objects, ref["kind"], ref["name"])
            if ref["kind"] == "ClusterRole"
            or r["metadata"].get("namespace") == binding["metadata"].get("namespace")
        ]
        assert len(candidates) == 1, f"{binding['metadata']['name']}: no {ref} in the install"
        scope = (
            CLUSTER if binding["kind"] == "ClusterRoleBinding" else binding["metadata"]["namespace"]
        )
        out[scope] |= flatten(candidates[0].get("rules") or [])
    return dict(out)


def required(args: argparse.Namespace) -> dict[str, set[Grant]]:
    """What cheiron/k8s/permissions.py says `cheiron run` with these arguments needs, by scope."""
    webhook = bool(args.webhook_port) and not args.no_webhook_configuration
    out: dict[str, set[Grant]] = defaultdict(set)
    for p in PERMISSIONS:
        names = p.resource_names
        if p.scope is Scope.LEADER_ELECTION and names:
            names = (args.lease_name,)  # the table names the default Lease
        grants = {
            (p.group, p.resource, verb, name) for verb in p.verbs for name in names or (None,)
        }
        if p.scope is Scope.WEBHOOK and not webhook:
            continue
        if p.scope is Scope.CLUSTER_INSTALL and args.namespace:
            continue
        if p.scope is Scope.LEADER_ELECTION:
            if args.leader_elect:
                out[args.operator_namespace] |= grants
        elif p.scope is Scope.NAMESPACE and args.namespace:
            for ns in args.namespace:
                out[ns] |= grants
        else:
            out[CLUSTER] |= grants
    return dict(out)


# --- the operator's Deployment ---------------------------------------------------------


def container(deployment: Obj) -> Obj:
    """The operator's one container."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Obj = containers[0]
    return result


def container_env(deployment: Obj) -> dict[str, str]:
    """The container's environment as the kubelet sets it: plain values and the Pod's namespace.

    Other references (Secrets, other fields) cannot be resolved from a manifest and are left out.
    """
    namespace = deployment["metadata"]["namespace"]
    env: dict[str, str] = {}
    for var in container(deployment).get("env") or []:
        field = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if "value" in var:
            env[var["name"]] = var["value"]
        elif field == "metadata.namespace":
            env[var["name"]] = namespace
    return env


def run_args(deployment: Obj) -> argparse.Namespace:
    """The container's command line as `cheiron`'s own parser reads it, in the container's env.

    The kubelet expands $(VAR) in args from the env the container declares, and the parser's
    defaults come from the environment (--operator-namespace from $POD_NAMESPACE).
    """
    env = container_env(deployment)
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in container(deployment)["args"]]
    assert args[0] == "run", args
    with mock.patch.dict(os.environ, env):
        return build_parser().parse_args(args)


def named_port(deployment: Obj, name: str) -> int:
    """The containerPort of a named port."""
    for port in container(deployment).get("ports") or []:
        if port["name"] == name:
            number: int = port["containerPort"]
            return number
    raise AssertionError(f"no port {name} in {container(deployment).get('ports')}")


def pod_spec(deployment: Obj) -> Obj:
    """The Deployment's Pod spec."""
    spec: Obj = deployment["spec"]["template"]["spec"]
    return spec


def _probe_hits_metrics_port(deployment: Obj, probe: str, path: str) -> bool:
    args = run_args(deployment)
    get = container(deployment)[probe]["httpGet"]
    port = get["port"] if isinstance(get["port"], int) else named_port(deployment, get["port"])
    # The kubelet probes the Pod's IP, so the endpoint must not listen on loopback only.
    listens = args.metrics_host == "0.0.0.0"  # noqa: S104
    return listens and args.metrics_port == port and get["path"] == path


def _one_acts(deployment: Obj) -> bool:
    spec = deployment["spec"]
    # Without an election, kopf runs standalone: a second replica, even during a rollout,
    # would act twice.
    return run_args(deployment).leader_elect or (
        spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    )


def _rollout_ends(deployment: Obj) -> bool:
    spec = deployment["spec"]
    if spec["strategy"]["type"] == "Recreate":
        return True
    # Only the leader is Ready: a rollout that keeps a Ready old Pod until a new one is Ready
    # waits for a new Pod that cannot lead while the old one does, forever.
    unavailable = spec["strategy"]["rollingUpdate"]["maxUnavailable"]
    return unavailable == "100%" or (
        isinstance(unavailable, int) and unavailable >= spec["replicas"]
    )


def _tmp_is_writable(deployment: Obj) -> bool:
    mounts = {m["mountPath"]: m["name"] for m in container(deployment).get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod_spec(deployment).get("volumes", [])}
    return "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108


# One check per field of a hardened operator Deployment, by what it guarantees.
HARDENING: dict[str, Callable[[Obj], bool]] = {
    "pod runAsNonRoot": lambda d: pod_spec(d)["securityContext"]["runAsNonRoot"] is True,
    "pod runAsUser is numeric, not root": lambda d: pod_spec(d)["securityContext"]["runAsUser"] > 0,
    "pod seccompProfile RuntimeDefault": lambda d: (
        pod_spec(d)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ),
    "container runAsNonRoot": lambda d: container(d)["securityContext"]["runAsNonRoot"] is True,
    "container seccompProfile RuntimeDefault": lambda d: (
        container(d)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ),
    "allowPrivilegeEscalation false": lambda d: (
        container(d)["securityContext"]["allowPrivilegeEscalation"] is False
    ),
    "readOnlyRootFilesystem": lambda d: (
        container(d)["securityContext"]["readOnlyRootFilesystem"] is True
    ),
    "capabilities: drop ALL, add none": lambda d: (
        container(d)["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    ),
    "not privileged": lambda d: not container(d)["securityContext"].get("privileged", False),
    "no host namespaces": lambda d: (
        not any(pod_spec(d).get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    ),
    # Service links of Services named cheiron-* would read as CHEIRON_* settings.
    "no service link variables": lambda d: pod_spec(d).get("enableServiceLinks") is False,
    "/tmp is a writable emptyDir": _tmp_is_writable,  # noqa: S108 - a check, not a file
    "cpu and memory requests": lambda d: (
        set(container(d)["resources"]["requests"]) == {"cpu", "memory"}
    ),
    "cpu and memory limits": lambda d: (
        set(container(d)["resources"]["limits"]) == {"cpu", "memory"}
    ),
    # /healthz answers on a standby too; kopf's --liveness is served by the leader only.
    "liveness probe on /healthz of --metrics-port": lambda d: _probe_hits_metrics_port(
        d, "livenessProbe", "/healthz"
    ),
    # Ready only while leading: the webhook Service then reaches the one replica serving it.
    "readiness probe on /readyz of --metrics-port": lambda d: _probe_hits_metrics_port(
        d, "readinessProbe", "/readyz"
    ),
    "own ServiceAccount": lambda d: pod_spec(d)["serviceAccountName"] == ACCOUNT,
    "one replica acts: several only with --leader-elect": _one_acts,
    "a rollout never waits for a standby to become Ready": _rollout_ends,
}
