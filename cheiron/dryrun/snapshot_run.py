"""`cheiron plan`'s I/O: read the cluster, plan like the operator, print; never write anything.

ECR entries are not sent to AWS: a dry run must not need AWS access. Where cheiron's Secret
for the entry exists its token is assumed current; where it is missing, the plan says a
token would be fetched.
"""

import datetime
import json
from typing import Any

from kubernetes import client

from cheiron.api.models import SecretEntry
from cheiron.api.observed import ManagerInfo
from cheiron.dryrun.report import ManagerPlan, plan
from cheiron.k8s import snapshot
from cheiron.k8s.objects import Kube
from cheiron.pullsecrets import entries
from cheiron.pullsecrets.entries import EcrPolicy, EntryOutcome
from cheiron.pullsecrets.status import recorded_entries

ECR_PENDING = "a new ECR token is fetched when applied"


def compute(
    api: client.ApiClient, namespaces: list[str], *, eatr: bool, ecr_policy: EcrPolicy
) -> tuple[list[ManagerPlan], list[str]]:
    """The plans of every manager in scope, and the managers whose spec is invalid."""
    kube = Kube(api)
    seen = snapshot.read(api, namespaces, eatr=eatr)

    def ecr(manager: ManagerInfo, entry: SecretEntry) -> EntryOutcome:
        target = entries.ecr_target(manager, entry, kube.read_secret, ecr_policy)
        if isinstance(target, EntryOutcome):
            return target
        name = entry.secret_name
        recorded = recorded_entries(seen.statuses.get(manager.key, {})).get(name, {})
        expected = recorded.get("tokenDigest")
        payload = (
            entries.own_payload(manager, entry, seen.secrets, kube.read_secret, str(expected))
            if expected
            else None
        )
        if payload:
            return EntryOutcome(name, True, "Resolved", payload=payload, update=False)
        return EntryOutcome(
            name, True, "Resolved", ECR_PENDING, payload=b'{"auths":{}}', update=False
        )

    plans = plan(
        seen.managers,
        seen.namespaces,
        seen.secrets,
        seen.accounts,
        seen.pods,
        resolve=lambda m, e: entries.resolve(m, e, kube.read_secret, ecr),
        now=datetime.datetime.now(datetime.UTC),
    )
    return plans, seen.invalid


def as_dict(p: ManagerPlan) -> dict[str, Any]:
    """A plan as plain data (no payloads: a plan never shows credentials)."""
    return {
        "manager": p.key,
        "status": {"phase": p.phase, "reason": p.reason, "message": p.message},
        "entries": [
            {"name": o.name, "ready": o.ok, "reason": o.reason, "message": o.message}
            for o in p.outcomes
        ],
        "secrets": {
            "create": [f"{d.namespace}/{d.name}" for d in p.secrets.create],
            "update": [f"{d.namespace}/{d.name}" for d in p.secrets.update],
            "delete": [f"{s.namespace}/{s.name}" for s in p.secrets.delete],
            "conflict": [f"{s.namespace}/{s.name}" for s in p.secrets.conflicts],
        },
        "serviceAccounts": [
            {
                "name": f"{c.namespace}/{c.name}",
                "imagePullSecrets": {"before": list(c.before), "after": list(c.after)},
            }
            for c in p.accounts
        ],
    }


def render_text(plans: list[ManagerPlan], invalid: list[str]) -> str:
    """The plans for people: one block per manager."""
    lines: list[str] = []
    for p in plans:
        lines.append(f"{p.key}: {'would change' if p.changes else 'no changes'}")
        lines.append(f"  status: {p.phase} ({p.reason}): {p.message}")
        for o in p.outcomes:
            if not o.ok or o.message:
                state = "ok" if o.ok else f"fails ({o.reason})"
                lines.append(f"  entry {o.name}: {state}: {o.message}".rstrip(": "))
        data = as_dict(p)
        for action, names in data["secrets"].items():
            for name in names:
                suffix = " (not cheiron's: left alone)" if action == "conflict" else ""
                lines.append(f"  Secret {name}: {action}{suffix}")
        for account in data["serviceAccounts"]:
            change = account["imagePullSecrets"]
            before, after = change["before"], change["after"]
            what = (
                f"imagePullSecrets {before} -> {after}"
                if before != after
                else "annotations (reconcile-with, reconciled)"
            )
            lines.append(f"  ServiceAccount {account['name']}: {what}")
    for key in invalid:
        lines.append(f"{key}: invalid spec, not planned (see its status)")
    if not plans and not invalid:
        lines.append("no managers")
    return "\n".join(lines) + "\n"


def render_json(plans: list[ManagerPlan], invalid: list[str]) -> str:
    """The plans as one JSON document."""
    return (
        json.dumps(
            {"managers": [as_dict(p) for p in plans], "invalid": invalid}, indent=2, sort_keys=True
        )
        + "\n"
    )
