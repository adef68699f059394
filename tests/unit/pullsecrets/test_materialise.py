"""Materialising Secrets: create, update, delete, adopt only when asked; the merged Secret."""

import pytest

from cheiron.api.observed import DOCKERCONFIGJSON_TYPE, SecretInfo, digest
from cheiron.dockerconfig import MAX_REGISTRIES, DockerConfig
from cheiron.pullsecrets.entries import EntryOutcome
from cheiron.pullsecrets.materialise import (
    TOO_MANY_REGISTRIES,
    DesiredSecret,
    Refusal,
    SecretWrites,
    hold,
    merged_outcome,
    secret_writes,
)

UID = "uid-1"

A = EntryOutcome("a", True, "Resolved", payload=b'{"auths":{}}')


@pytest.mark.parametrize(
    ("existing", "expect"),
    [
        ([], "create"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, UID, digest(A.payload or b""))], "none"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, UID, "stale")], "update"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, None, "x")], "conflict"),
        ([SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, "other-uid", "x")], "conflict"),
    ],
)
def test_writes_one_entry(existing: list[SecretInfo], expect: str) -> None:
    writes = secret_writes(UID, [A], ["ns"], existing)
    got = {
        "create": len(writes.create),
        "update": len(writes.update),
        "conflict": len(writes.conflicts),
    }
    assert writes.delete == ()
    if expect == "none":
        assert writes.writes == 0
        assert not writes.conflicts
    else:
        assert got[expect] == 1
        assert sum(got.values()) == 1


def _foreign(**kw: object) -> SecretInfo:
    fields: dict[str, object] = {"type": DOCKERCONFIGJSON_TYPE, "digest": digest(A.payload or b"")}
    return SecretInfo("ns", "a", **(fields | kw))  # type: ignore[arg-type]


def test_a_secret_labelled_for_the_manager_is_adopted_in_place() -> None:
    # Even with the same content: the takeover itself (labels, owner references) is a write.
    writes = secret_writes(UID, [A], ["ns"], [_foreign(adopt_by="m")], adopter="m")
    assert [(d.namespace, d.name, d.adopt) for d in writes.update] == [("ns", "a", True)]
    assert writes.conflicts == ()


@pytest.mark.parametrize(
    "existing",
    [
        _foreign(adopt_by="someone-else"),
        _foreign(),  # no label: a user's Secret is never taken
        _foreign(adopt_by="m", owner_uid="other-uid"),  # another manager's
        _foreign(adopt_by="m", type="Opaque"),  # a type cannot change in place
    ],
)
def test_anything_else_of_the_same_name_stays_a_conflict(existing: SecretInfo) -> None:
    writes = secret_writes(UID, [A], ["ns"], [existing], adopter="m")
    assert writes.writes == 0
    assert writes.conflicts == (existing,)


def test_failed_entry_keeps_its_old_secret() -> None:
    failed = EntryOutcome("a", False, "SecretNotFound")
    old = SecretInfo("ns", "a", DOCKERCONFIGJSON_TYPE, UID, "d")
    assert secret_writes(UID, [failed], ["ns"], [old]).writes == 0


def test_removed_entries_and_untargeted_namespaces_are_cleaned() -> None:
    gone_entry = SecretInfo("ns", "old", DOCKERCONFIGJSON_TYPE, UID, "d")
    gone_ns = SecretInfo("elsewhere", "a", DOCKERCONFIGJSON_TYPE, UID, "d")
    foreign = SecretInfo("elsewhere", "b", DOCKERCONFIGJSON_TYPE, None, "d")
    writes = secret_writes(UID, [A], ["ns"], [gone_entry, gone_ns, foreign])
    assert set(writes.delete) == {gone_entry, gone_ns}


def test_cluster_copy_skips_its_own_source() -> None:
    copy = EntryOutcome("a", True, "Resolved", payload=b"{}", source=("creds", "a"))
    writes = secret_writes(UID, [copy], ["creds", "team"], [])
    assert [(d.namespace, d.name) for d in writes.create] == [("team", "a")]


def _config(registry: str, password: str) -> bytes:
    return DockerConfig.single(registry, "u", password).to_json()


def test_merged_outcome_earlier_entry_wins() -> None:
    outcomes = [
        EntryOutcome("a", True, "Resolved", payload=_config("ghcr.io", "first")),
        EntryOutcome("b", True, "Resolved", payload=_config("https://ghcr.io/", "second")),
        EntryOutcome("c", True, "Resolved", payload=_config("quay.io", "q"), in_place=True),
    ]
    merged, overridden = merged_outcome("all", outcomes)
    assert merged.ok
    assert merged.update
    assert overridden == ("ghcr.io",)
    assert merged.payload is not None
    config = DockerConfig.parse(merged.payload)
    assert config.registries == ("ghcr.io", "quay.io")
    assert config.auths["ghcr.io"].password == "first"


def test_merged_outcome_with_a_failure_creates_but_never_degrades() -> None:
    outcomes = [
        EntryOutcome("a", True, "Resolved", payload=_config("ghcr.io", "p")),
        EntryOutcome("b", False, "SecretNotFound"),
    ]
    merged, _ = merged_outcome("all", outcomes)
    assert merged.ok
    assert not merged.update
    old = SecretInfo("ns", "all", DOCKERCONFIGJSON_TYPE, UID, "older-content")
    assert secret_writes(UID, [merged], ["ns", "new"], [old]).create[0].namespace == "new"
    assert secret_writes(UID, [merged], ["ns"], [old]).writes == 0


def test_merged_outcome_without_any_credentials_fails() -> None:
    merged, _ = merged_outcome("all", [EntryOutcome("b", False, "SecretNotFound")])
    assert not merged.ok
    assert merged.payload is None


def test_held_namespaces_are_not_written_and_their_refusal_stands() -> None:
    here = DesiredSecret("ns-a", "a", b"{}")
    there = DesiredSecret("ns-b", "a", b"{}")
    gone = SecretInfo("ns-b", "old", DOCKERCONFIGJSON_TYPE, "uid", "d")
    waiting = {"ns-b": Refusal("ns-b", "a", "create", "403 Forbidden")}
    held = hold(SecretWrites(create=(here, there), delete=(gone,)), waiting)
    assert held.create == (here,)
    assert held.delete == ()
    assert held.refused == (waiting["ns-b"],)
    assert hold(SecretWrites(create=(here,)), {}) == SecretWrites(create=(here,))
    # Nothing left to write there: the refusal goes.
    assert hold(SecretWrites(create=(here,)), waiting).refused == ()


def test_a_merge_past_the_registry_cap_fails_instead_of_writing_a_secret_nobody_can_read() -> None:
    half = MAX_REGISTRIES // 2 + 1
    outcomes = [
        EntryOutcome(
            f"e{i}",
            True,
            "Resolved",
            payload=DockerConfig.single(f"r{i}-{j}.example", "u", "p").to_json(),
        )
        for i in range(2)
        for j in range(half)
    ]
    merged, _ = merged_outcome("all", outcomes)
    assert (merged.ok, merged.reason) == (False, TOO_MANY_REGISTRIES)
