"""Every rendered operator Deployment, kustomize's and helm's, is hardened field by field."""

import pytest

from tests.support.manifests import HARDENING, Obj, one

INSTALLS = [
    ("kustomize", "cluster"),
    ("kustomize", "namespaced"),
    ("helm", "cluster"),
    ("helm", "namespaced"),
]


@pytest.mark.parametrize("check", sorted(HARDENING))
@pytest.mark.parametrize(("tool", "mode"), INSTALLS)
def test_deployment_is_hardened(
    tool: str,
    mode: str,
    check: str,
    kustomized: dict[str, list[Obj]],
    charted: dict[str, list[Obj]],
) -> None:
    rendered = kustomized if tool == "kustomize" else charted
    deployment = one(rendered[mode], "Deployment", "cheiron")
    assert HARDENING[check](deployment), f"{tool} {mode}: {check}"
