"""The annotation, label and finalizer names of cheiron's protocol, and how to read them (pure).

The annotation names are those of the original Go cheiron, so objects annotated by it are
understood here and the other way round.
"""

from collections.abc import Iterable, Mapping

PREFIX = "cheiron.anny.co"

# Set by the manager controller on ServiceAccounts and Pods it wants reconciled.
RECONCILABLE = f"{PREFIX}/reconcilable"
RECONCILE_WITH = f"{PREFIX}/reconcile-with"
# Set by the ServiceAccount and Pod controllers once the object has its secrets.
RECONCILED = f"{PREFIX}/reconciled"
# The imagePullSecrets entries cheiron itself appended: only these are ever removed again.
ADDED = f"{PREFIX}/added"
# Set on a Pod created without the secrets it should have (its spec can no longer change).
NEEDS_RECREATION = f"{PREFIX}/needs-recreation"
# Opt-out on a Namespace, ServiceAccount or Pod.
IGNORE = f"{PREFIX}/ignore"

# On a workload cheiron pointed at backups: the images it had before, as JSON
# {"containers/0": "nginx:1.25", ...}, so that the originals stay known (and backed up).
BACKUP_ORIGINALS = f"{PREFIX}/backup-originals"

PROTOCOL_ANNOTATIONS = (RECONCILABLE, RECONCILE_WITH, RECONCILED, ADDED, NEEDS_RECREATION)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "cheiron"
# Owner references cannot cross namespaces, so what cheiron creates names its owner by label.
OWNER_UID_LABEL = f"{PREFIX}/owner-uid"
OWNER_ANNOTATION = f"{PREFIX}/owner"
# On a Secret another tool wrote: the name of the manager that may take it over in place
# (`cheiron migrate --adopt`), instead of reporting it as a conflict.
ADOPT_LABEL = f"{PREFIX}/adopt"

FINALIZER = f"{PREFIX}/finalizer"
# Where kopf, in earlier versions, copied each spec (inline passwords too): removed on sight.
LEGACY_SPEC_COPY = f"{PREFIX}/last-handled-configuration"
TRUE = "true"


def is_ignored(annotations: Mapping[str, str] | None) -> bool:
    """Whether an object opted out with `cheiron.anny.co/ignore: "true"`."""
    return (annotations or {}).get(IGNORE, "").strip().lower() == TRUE


def split_names(value: str | None) -> tuple[str, ...]:
    """A `a,b,c` annotation as names: blanks dropped, duplicates removed, order kept."""
    seen: dict[str, None] = {}
    for part in (value or "").split(","):
        if name := part.strip():
            seen.setdefault(name, None)
    return tuple(seen)


def join_names(names: Iterable[str]) -> str:
    """Names as the comma-separated, sorted annotation value (sorted: no churn on reorder)."""
    return ",".join(sorted(set(names)))
