"""Admission decisions for objects being created: born with their pull secrets (pure).

Used by the Pod webhook (Pod mode) and the optional ServiceAccount webhook; the result is
what the ServiceAccount and Pod controllers would converge to, so they find nothing to do.
"""

from cheiron.api.meta import (
    ADDED,
    RECONCILABLE,
    RECONCILE_WITH,
    RECONCILED,
    TRUE,
    is_ignored,
    join_names,
)
from cheiron.api.observed import AccountInfo


def admit(
    account: AccountInfo, names: tuple[str, ...], namespace_ignored: bool
) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """At creation: the pull-secret list and marks to give the object (None: leave it).

    Its own entries stay first and in order; nothing is listed twice.
    """
    if namespace_ignored or is_ignored(account.annotations) or not names:
        return None
    appended = tuple(n for n in names if n not in account.pull_secrets)
    annotations = {RECONCILABLE: TRUE, RECONCILE_WITH: join_names(names), RECONCILED: TRUE}
    if appended:
        annotations[ADDED] = join_names(appended)
    return account.pull_secrets + appended, annotations
