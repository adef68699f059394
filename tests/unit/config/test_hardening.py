"""Every rendered operator Deployment is hardened, field by field."""

import pytest

from tests.support.manifests import HARDENING, Obj, one

INSTALLS = [
    ("kustomize", "cluster"),
    ("kustomize", "namespaced"),
]


@pytest.mark.parametrize("check", sorted(HARDENING))
@pytest.mark.parametrize(("tool", "mode"), INSTALLS)
def test_deployment_is_hardened(
    tool: str,
    mode: str,
    check: str,
    kustomized: dict[str, list[Obj]],
) -> None:
    deployment = one(kustomized[mode], "Deployment", "cheiron")
    assert HARDENING[check](deployment), f"{tool} {mode}: {check}"
