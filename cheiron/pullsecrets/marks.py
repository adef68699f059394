"""Which pull Secrets an account is marked to carry (`reconcile-with`), and the patch (pure)."""

from collections.abc import Iterable, Mapping, Sequence

from cheiron.api.meta import RECONCILABLE, RECONCILE_WITH, TRUE, is_ignored, join_names
from cheiron.api.models import Mode
from cheiron.api.observed import AccountInfo, ManagerInfo, SecretInfo
from cheiron.pullsecrets.materialise import in_place, merged_name
from cheiron.pullsecrets.targets import acts_in, eatr_entries, no_pods
from cheiron.targeting import NamespaceInfo, PodsIn, account_selected


def names_in_namespace(
    namespace: str,
    mode: Mode,
    managers: Iterable[ManagerInfo],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Mapping[str, SecretInfo],
    *,
    include_pending: bool = False,
    pods_in: PodsIn = no_pods,
    account: AccountInfo | None = None,
) -> tuple[str, ...]:
    """The pull Secrets every manager in `mode` provides in `namespace`, as `reconcile-with`.

    Only Secrets that exist count: cheiron's own for this manager, or, for a namespaced
    manager's existingSecretRef, the referenced pull Secret itself. A foreign Secret that
    happens to share a name is never attached. `secrets` is keyed by name, for `namespace`.

    `include_pending` also counts Secrets cheiron is about to create (no Secret of that name
    yet): admission uses it, because a Pod's list is fixed at creation while the kubelet
    retries a pull until the Secret it names appears.

    With `account`, managers whose serviceAccountSelector leaves it out do not count.
    """
    names: set[str] = set()
    info = namespaces.get(namespace)
    for manager in managers:
        if manager.mode is not mode:
            continue
        only: frozenset[str] | None = None
        if not acts_in(manager, namespace, namespaces, pods_in):
            only = eatr_entries(manager, info) if info is not None else frozenset()
            if not only:
                continue
        if account is not None and not account_selected(
            manager.spec.service_account_selector, account.name, account.labels
        ):
            continue
        if (merged := merged_name(manager)) is not None:
            secret = secrets.get(merged)
            if (secret is None and include_pending) or (
                secret is not None and secret.is_pull_secret and secret.owner_uid == manager.uid
            ):
                names.add(merged)
            continue
        for entry in manager.spec.secrets:
            if only is not None and entry.secret_name not in only:
                continue
            secret = secrets.get(entry.secret_name)
            own = in_place(manager, entry, namespace)
            if secret is None:
                if include_pending and not own:
                    names.add(entry.secret_name)
                continue
            if secret.is_pull_secret and (own or secret.owner_uid == manager.uid):
                names.add(entry.secret_name)
    return tuple(sorted(names))


def offered_for_recovery(
    namespace: str,
    managers: Iterable[ManagerInfo],
    namespaces: Mapping[str, NamespaceInfo],
    secrets: Mapping[str, SecretInfo],
    *,
    service_accounts: Mapping[str, tuple[str, ...]],
    service_account: str,
    pods_in: PodsIn = no_pods,
) -> dict[str, tuple[str, ...]]:
    """Pull Secrets a recreated Pod would get from managers opted in to recovery.

    Maps each to the registries it covers. In ServiceAccount mode only what the Pod's
    ServiceAccount already lists counts: a replacement created earlier would be as stuck.
    """
    offered: dict[str, tuple[str, ...]] = {}
    account_list = service_accounts.get(service_account or "default", ())
    for manager in managers:
        if not manager.spec.recreate_stuck_pods:
            continue
        for name in names_in_namespace(
            namespace, manager.mode, [manager], namespaces, secrets, pods_in=pods_in
        ):
            if manager.mode is Mode.POD or name in account_list:
                offered[name] = secrets[name].registries
    return offered


def mark_patch(
    annotations: Mapping[str, str], names: Sequence[str], namespace_ignored: bool
) -> dict[str, str | None] | None:
    """The annotation changes that make an account carry `names` (None: nothing to change)."""
    if is_ignored(annotations) or namespace_ignored:
        # The ServiceAccount controller cleans an opted-out object; never mark it again.
        return None
    want: dict[str, str | None] = (
        {RECONCILABLE: TRUE, RECONCILE_WITH: join_names(names)}
        if names
        else {RECONCILABLE: None, RECONCILE_WITH: None}
    )
    patch = {k: v for k, v in want.items() if annotations.get(k) != v}
    return patch or None
