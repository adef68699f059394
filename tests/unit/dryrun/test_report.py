"""The dry-run plan: Secrets, ServiceAccount changes and status from the operator's own pass."""

import datetime

from cheiron.api.meta import ADDED, RECONCILABLE, RECONCILE_WITH, RECONCILED, TRUE
from cheiron.api.models import ImagePullSecretManagerSpec, SecretEntry
from cheiron.api.observed import (
    DOCKERCONFIGJSON_TYPE,
    AccountInfo,
    ManagerInfo,
    ManagerKind,
    NamespaceInfo,
    SecretInfo,
    digest,
)
from cheiron.dryrun.report import plan
from cheiron.pullsecrets.entries import EntryOutcome

PAYLOAD = b'{"auths":{"ghcr.io":{"auth":"dTpw"}}}'
MANAGER = ManagerInfo(
    ManagerKind.NAMESPACED,
    "m",
    "team",
    "uid",
    1,
    ImagePullSecretManagerSpec.model_validate(
        {"secrets": [{"name": "a", "registry": "ghcr.io", "username": "u", "password": "p"}]}
    ),
)
NAMESPACES = {"team": NamespaceInfo("team")}
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _resolve(manager: ManagerInfo, entry: SecretEntry) -> EntryOutcome:
    return EntryOutcome(entry.secret_name, True, "Resolved", payload=PAYLOAD)


def test_a_new_manager_creates_and_patches() -> None:
    (p,) = plan(
        [MANAGER], NAMESPACES, [], [AccountInfo("team", "default")], [], resolve=_resolve, now=NOW
    )
    assert [(d.namespace, d.name) for d in p.secrets.create] == [("team", "a")]
    assert [(c.name, c.before, c.after) for c in p.accounts] == [("default", (), ("a",))]
    assert p.changes
    assert (p.phase, p.reason) == ("Ready", "Reconciled")


def test_a_converged_manager_changes_nothing() -> None:
    secret = SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, "uid", digest(PAYLOAD))
    account = AccountInfo(
        "team",
        "default",
        {RECONCILABLE: TRUE, RECONCILE_WITH: "a", RECONCILED: TRUE, ADDED: "a"},
        ("a",),
    )
    (p,) = plan([MANAGER], NAMESPACES, [secret], [account], [], resolve=_resolve, now=NOW)
    assert not p.changes


def test_a_foreign_secret_is_a_conflict_and_never_attached() -> None:
    theirs = SecretInfo("team", "a", DOCKERCONFIGJSON_TYPE, None, "other")
    (p,) = plan(
        [MANAGER],
        NAMESPACES,
        [theirs],
        [AccountInfo("team", "default")],
        [],
        resolve=_resolve,
        now=NOW,
    )
    assert p.secrets.conflicts == (theirs,)
    assert p.secrets.create == ()
    assert (p.phase, p.reason) == ("Degraded", "SecretConflict")
    assert p.accounts == ()
