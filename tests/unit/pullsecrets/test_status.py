"""The Ready message: every kind of trouble counted, the first few named, the whole bounded."""

import datetime

from cheiron.api.observed import DOCKERCONFIGJSON_TYPE, SecretInfo
from cheiron.api.sources import Verdict, VerificationResult
from cheiron.pullsecrets import status
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import Refusal

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LONG = "x" * 240


def _conflicts(count: int) -> list[SecretInfo]:
    return [SecretInfo(f"ns-{i:05d}", "reg", DOCKERCONFIGJSON_TYPE) for i in range(count)]


def test_one_conflict_reads_as_before() -> None:
    reason, message = status.summary([EntryOutcome("reg", True, "Resolved")], _conflicts(1), ())
    assert reason == status.SECRET_CONFLICT
    assert "Secret ns-00000/reg exists and is not managed by this manager" in message


def test_many_conflicts_are_counted_with_the_first_few_named() -> None:
    conflicts = list(reversed(_conflicts(100_000)))
    _reason, message = status.summary([EntryOutcome("reg", True, "Resolved")], conflicts, ())
    assert "100000 Secrets exist" in message
    # Sorted: the same conflicts give the same message, whatever order the pass saw them in.
    assert "ns-00000/reg, ns-00001/reg" in message
    assert f"and {100_000 - status.SHOWN} more" in message
    assert len(message) <= status.MESSAGE_LIMIT


def test_failed_and_unverified_entries_are_bounded() -> None:
    failed = [EntryOutcome(f"f{i}-{LONG}", False, "SecretNotFound", LONG * 10) for i in range(64)]
    unreachable = Verdict(VerificationResult.UNREACHABLE, NOW, "connection refused; " * 100)
    ok = [
        EntryOutcome(f"u{i}-{LONG}", True, "Resolved", verification=unreachable) for i in range(64)
    ]
    refused = [Refusal(f"ns-{i}", "reg", "create", "403 Forbidden") for i in range(1000)]
    reason, message = status.summary(
        [*failed, *ok], _conflicts(1000), [f"r{i}.example" for i in range(26_000)], refused
    )
    assert reason == "SecretNotFound"
    assert "and 59 more entries failed" in message
    assert "64 entries not verified" in message
    assert "writes refused in 1000 namespaces" in message
    assert len(message) <= status.MESSAGE_LIMIT


def test_entry_rows_clip_messages() -> None:
    row = status.entry_rows([EntryOutcome("a", False, "EcrError", "m" * 100_000)])[0]
    assert len(row["message"]) <= status.ENTRY_MESSAGE_LIMIT
    assert row["message"].endswith("…")
