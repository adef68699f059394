"""Admission decisions for a Pod being created (pure)."""

import pytest

from cheiron.api.meta import ADDED, IGNORE, RECONCILABLE, RECONCILE_WITH, RECONCILED
from cheiron.api.observed import AccountInfo
from cheiron.pullsecrets.admission import admit


@pytest.mark.parametrize(
    ("own", "annotations", "names", "ns_ignored", "expected"),
    [
        ((), {}, ("a", "b"), False, ("a", "b")),
        (("mine", "b"), {}, ("a", "b"), False, ("mine", "b", "a")),
        ((), {}, (), False, None),
        ((), {IGNORE: "true"}, ("a",), False, None),
        ((), {}, ("a",), True, None),
    ],
)
def test_admit(
    own: tuple[str, ...],
    annotations: dict[str, str],
    names: tuple[str, ...],
    ns_ignored: bool,
    expected: tuple[str, ...] | None,
) -> None:
    decision = admit(AccountInfo("ns", "p", annotations, own), names, ns_ignored)
    if expected is None:
        assert decision is None
        return
    assert decision is not None
    pull, marks = decision
    assert pull == expected
    assert marks[RECONCILABLE] == "true"
    assert marks[RECONCILED] == "true"
    assert marks[RECONCILE_WITH] == ",".join(sorted(names))
    appended = [n for n in names if n not in own]
    assert marks.get(ADDED, "") == ",".join(sorted(appended))
