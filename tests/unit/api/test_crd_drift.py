"""The committed CRD YAML is exactly what the pydantic models generate."""

from pathlib import Path

import pytest
import yaml

from cheiron.api.crd import KINDS, Kind, crd, crd_file_name, crd_yaml, structural

BASES = Path(__file__).parents[3] / "config" / "crd" / "bases"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_committed_crd_matches_models(kind: Kind) -> None:
    committed = (BASES / crd_file_name(kind)).read_text()
    assert committed == crd_yaml(kind), "config/crd drifted from the models: run `make crds`"


def test_kustomization_lists_every_crd() -> None:
    listed = yaml.safe_load((BASES.parent / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(f"bases/{crd_file_name(k)}" for k in KINDS)


def _walk(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: Kind) -> None:
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for node in _walk(schema):
        for forbidden in ("$ref", "anyOf", "allOf", "$defs", "title"):
            assert forbidden not in node
        if "additionalProperties" in node:
            # Only a value schema for maps, never `false` and never beside properties.
            assert isinstance(node["additionalProperties"], dict)
            assert "properties" not in node
        if "properties" in node:
            assert node.get("type") == "object"


def test_structural_inlines_refs_and_drops_optional_null() -> None:
    schema = {
        "$defs": {
            "Ref": {"title": "Ref", "type": "object", "properties": {"n": {"type": "string"}}}
        },
        "type": "object",
        "properties": {
            "ref": {"anyOf": [{"$ref": "#/$defs/Ref"}, {"type": "null"}], "default": None},
            "fixed": {"const": "x"},
        },
        "additionalProperties": False,
    }
    assert structural(schema) == {
        "type": "object",
        "properties": {
            "ref": {"type": "object", "properties": {"n": {"type": "string"}}},
            "fixed": {"enum": ["x"], "type": "string"},
        },
    }
