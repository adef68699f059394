"""The pull Secrets a pass writes: what to create, update or delete, never adopting (pure)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cheiron.api.meta import MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION, OWNER_UID_LABEL
from cheiron.api.models import SecretEntry
from cheiron.api.observed import DOCKERCONFIGJSON_TYPE, ManagerInfo, SecretInfo, digest
from cheiron.dockerconfig import MAX_REGISTRIES, DockerConfig, merge
from cheiron.pullsecrets.entries import EntryOutcome


@dataclass(frozen=True)
class DesiredSecret:
    """A pull Secret cheiron wants in a namespace."""

    namespace: str
    name: str
    payload: bytes = field(repr=False)
    # Taking over a Secret another tool wrote, labelled for this manager to adopt.
    adopt: bool = False

    @property
    def digest(self) -> str:
        """Fingerprint of the payload, compared with what the watch saw."""
        return digest(self.payload)


@dataclass(frozen=True)
class Refusal:
    """A write the API server refused in one namespace (admission, quota, a gone namespace)."""

    namespace: str
    name: str
    action: str  # create, update, delete, or mark (the namespace's accounts)
    # The HTTP status and its reason ("403 Forbidden"): never the API's message, which a
    # policy may compose from the request.
    reason: str

    def describe(self) -> str:
        """`ns: create of Secret a refused (403 Forbidden)`."""
        what = "marking" if self.action == "mark" else f"{self.action} of Secret {self.name}"
        return f"{self.namespace}: {what} refused ({self.reason})"


@dataclass(frozen=True)
class SecretWrites:
    """A pass's Secret writes, the Secrets it will not touch, and the writes refused.

    `refused`: what the API server refused, or what waits for its namespace's backoff.
    """

    create: tuple[DesiredSecret, ...] = ()
    update: tuple[DesiredSecret, ...] = ()
    delete: tuple[SecretInfo, ...] = ()
    conflicts: tuple[SecretInfo, ...] = ()
    refused: tuple[Refusal, ...] = ()

    @property
    def writes(self) -> int:
        """How many API writes they are."""
        return len(self.create) + len(self.update) + len(self.delete)


def hold(writes: SecretWrites, waiting: Mapping[str, Refusal]) -> SecretWrites:
    """The writes without those in namespaces whose last refusal's backoff has not run out.

    Their refusal stands until then: one refusing namespace costs one attempt per backoff,
    and never holds back the others.
    """
    if not waiting:
        return writes
    planned = {d.namespace for d in (*writes.create, *writes.update)}
    planned |= {s.namespace for s in writes.delete}
    return SecretWrites(
        tuple(d for d in writes.create if d.namespace not in waiting),
        tuple(d for d in writes.update if d.namespace not in waiting),
        tuple(s for s in writes.delete if s.namespace not in waiting),
        writes.conflicts,
        # A namespace with nothing left to write (no longer a target, say) is refused no more.
        (
            *writes.refused,
            *(r for ns, r in waiting.items() if ns in planned or r.action == "mark"),
        ),
    )


def secret_writes(
    owner_uid: str,
    outcomes: Sequence[EntryOutcome],
    target_namespaces: Sequence[str],
    existing: Iterable[SecretInfo],
    partial: Mapping[str, frozenset[str]] | None = None,
    *,
    adopter: str | None = None,
) -> SecretWrites:
    """Compare the wanted pull Secrets with the observed ones.

    A Secret of the same name that cheiron did not create for this owner is a conflict: it is
    never overwritten, unless it is a pull Secret no cheiron manager owns that someone
    labelled for this manager (`adopter`, its name) to adopt: then it is taken over in place.
    A failed entry keeps whatever Secret it had (pulls keep working on the last good
    credentials). Secrets of this owner that no entry or target wants
    any more are deleted. `partial` adds namespaces that want only some entries (eatr).
    """
    partial = partial or {}
    seen = {(s.namespace, s.name): s for s in existing}
    # A set, and each payload hashed once: a pass over 1,000 namespaces stays linear.
    full = set(target_namespaces)
    hashed = [(o, digest(o.payload) if o.payload is not None else "") for o in outcomes]
    wanted: set[tuple[str, str]] = set()
    create: list[DesiredSecret] = []
    update: list[DesiredSecret] = []
    conflicts: list[SecretInfo] = []
    for namespace in (*target_namespaces, *partial):
        only = partial.get(namespace) if namespace not in full else None
        for outcome, payload_digest in hashed:
            if outcome.in_place or (only is not None and outcome.name not in only):
                continue
            key = (namespace, outcome.name)
            if key == outcome.source:
                continue
            wanted.add(key)
            if outcome.payload is None:
                continue
            desired = DesiredSecret(namespace, outcome.name, outcome.payload)
            current = seen.get(key)
            if current is None:
                create.append(desired)
            elif _adoptable(current, adopter):
                update.append(replace(desired, adopt=True))
            elif current.owner_uid != owner_uid:
                conflicts.append(current)
            elif outcome.update and (
                current.digest != payload_digest or current.type != DOCKERCONFIGJSON_TYPE
            ):
                update.append(desired)
    delete = sorted(
        (s for key, s in seen.items() if s.owner_uid == owner_uid and key not in wanted),
        key=lambda s: (s.namespace, s.name),
    )
    return SecretWrites(tuple(create), tuple(update), tuple(delete), tuple(conflicts))


def _adoptable(current: SecretInfo, adopter: str | None) -> bool:
    return (
        adopter is not None
        and current.owner_uid is None
        and current.adopt_by == adopter
        and current.type == DOCKERCONFIGJSON_TYPE
    )


NO_CREDENTIALS = "NoCredentials"
TOO_MANY_REGISTRIES = "TooManyRegistries"


def merged_outcome(
    name: str, outcomes: Sequence[EntryOutcome]
) -> tuple[EntryOutcome, tuple[str, ...]]:
    """The one Secret of a manager with `target.secret`, and the registries given twice.

    Entries merge in spec order and the earlier wins per registry. While an entry fails, an
    existing merged Secret is left as it is (it still holds that entry's last good
    credentials); where none exists yet, one is created from the entries that work.
    """
    usable = [o.payload for o in outcomes if o.ok and o.payload is not None]
    if not usable:
        return EntryOutcome(name, False, NO_CREDENTIALS, "no entry resolved"), ()
    merged, overridden = merge([DockerConfig.parse(p) for p in usable])
    if len(merged.registries) > MAX_REGISTRIES:
        message = (
            f"the entries list {len(merged.registries)} registries, more than the "
            f"{MAX_REGISTRIES} one pull Secret may list"
        )
        return EntryOutcome(name, False, TOO_MANY_REGISTRIES, message), overridden
    complete = all(o.ok for o in outcomes)
    return (
        EntryOutcome(name, True, "Resolved", payload=merged.to_json(), update=complete),
        overridden,
    )


def secret_labels(owner_uid: str) -> dict[str, str]:
    """Labels on every Secret cheiron creates: who manages it, and for which owner."""
    return {MANAGED_BY_LABEL: MANAGED_BY, OWNER_UID_LABEL: owner_uid}


def secret_annotations(manager: ManagerInfo) -> dict[str, str]:
    """A human-readable pointer to the owning manager."""
    return {OWNER_ANNOTATION: manager.key}


def after_writes(
    existing: Iterable[SecretInfo], writes: SecretWrites, owner_uid: str
) -> list[SecretInfo]:
    """The Secrets as they will be once `writes` are made (the watch may lag behind)."""
    by_key = {(s.namespace, s.name): s for s in existing}
    for s in writes.delete:
        by_key.pop((s.namespace, s.name), None)
    for d in (*writes.create, *writes.update):
        by_key[(d.namespace, d.name)] = SecretInfo(
            d.namespace, d.name, DOCKERCONFIGJSON_TYPE, owner_uid, d.digest
        )
    return list(by_key.values())


def merged_name(manager: ManagerInfo) -> str | None:
    """The name of the manager's merged Secret, or None when it writes one per entry."""
    target = manager.spec.target
    return target.secret.name if target is not None and target.secret is not None else None


def in_place(manager: ManagerInfo, entry: SecretEntry, namespace: str) -> bool:
    """Whether `entry` uses an existing Secret where it is, in `namespace`, without a copy."""
    ref = entry.existing_secret_ref
    if ref is None or ref.name != entry.secret_name:
        return False
    source_namespace = getattr(ref, "namespace", None) or manager.namespace
    return source_namespace == namespace
