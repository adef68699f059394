"""The registry and OCI-layout fixtures against a real docker-registry, pushed with skopeo."""

import json
from pathlib import Path

import pytest

from tests.integration.registry.conftest import PASSWORD, USER
from tests.support import oci
from tests.support.registry import Registry, RegistryError


def test_layout_is_deterministic_and_content_addressed(tmp_path: Path) -> None:
    first = oci.write_index(tmp_path / "a", "v1", seed="same")
    again = oci.write_index(tmp_path / "b", "v1", seed="same")
    other = oci.write_index(tmp_path / "c", "v1", seed="other")

    assert first == again
    assert other.digest != first.digest
    blobs = tmp_path / "a" / "blobs" / "sha256"
    assert {f"sha256:{p.name}" for p in blobs.iterdir()} == first.blobs
    for path in blobs.iterdir():
        assert oci.sha256_digest(path.read_bytes()) == f"sha256:{path.name}"
    (entry,) = json.loads((tmp_path / "a" / "index.json").read_text())["manifests"]
    assert entry["digest"] == first.digest
    assert entry["annotations"][oci.REF_NAME] == "v1"


def test_single_image_reads_back_with_its_digest(registry: Registry, layout: Path) -> None:
    image = oci.write_image(layout, "v1", seed="single")

    pushed = oci.push(layout, "team/app:v1", registry)

    assert pushed == image.digest
    assert registry.manifest_digest("team/app", "v1") == image.digest
    manifest = registry.manifest("team/app", image.digest)
    assert manifest.media_type == oci.MANIFEST
    assert oci.sha256_digest(manifest.body) == image.digest
    assert registry.tags("team/app") == ["v1"]
    assert len(image.layers) == 2
    assert all(registry.blob_exists("team/app", d) for d in image.blobs - {image.digest})


def test_multi_arch_index_reads_back_with_its_digest(registry: Registry, layout: Path) -> None:
    index = oci.write_index(layout, "v2", seed="multi")

    pushed = oci.push(layout, "team/multi:v2", registry)

    assert pushed == index.digest
    served = registry.manifest("team/multi", "v2")
    assert (served.digest, served.media_type) == (index.digest, oci.INDEX)
    platforms = {
        (m["platform"]["os"], m["platform"]["architecture"]): m["digest"]
        for m in served.json()["manifests"]
    }
    assert platforms == {image.platform: image.digest for image in index.images}
    for image in index.images:
        assert registry.manifest_digest("team/multi", image.digest) == image.digest
    # One layer is in both images, yet stored once: the registry dedups by digest.
    amd64, arm64 = index.images
    shared = {d.digest for d in amd64.layers} & {d.digest for d in arm64.layers}
    assert len(shared) == 1
    assert registry.stored_blobs() == index.blobs


def test_tls_and_htpasswd(secure_registry: Registry, layout: Path) -> None:
    image = oci.write_image(layout, "v1", seed="secure")

    assert oci.push(layout, "team/app:v1", secure_registry) == image.digest
    assert secure_registry.manifest_digest("team/app", "v1") == image.digest
    assert secure_registry.ca_path is not None
    assert secure_registry.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert secure_registry.url.startswith("https://")

    assert secure_registry.request("GET", "/v2/", credentials=(USER, "wrong")).status == 401
    assert secure_registry.request("GET", "/v2/", anonymous=True).status == 401
    assert secure_registry.request("GET", "/v2/", credentials=(USER, PASSWORD)).status == 200
    with pytest.raises(oci.SkopeoError, match=r"(?i)unauthorized|401"):
        oci.push(layout, "team/refused:v1", secure_registry, creds=(USER, "wrong"))
    with pytest.raises(RegistryError) as missing:
        secure_registry.manifest_digest("team/refused", "v1")
    assert missing.value.status == 404


def test_tls_is_verified_against_the_test_ca(secure_registry: Registry, layout: Path) -> None:
    oci.write_image(layout, "v1", seed="untrusted")

    with pytest.raises(oci.SkopeoError, match="certificate"):
        oci.skopeo_copy(
            f"oci:{layout}:v1",
            f"docker://{secure_registry.host}/team/app:v1",
            f"--dest-creds={USER}:{PASSWORD}",
        )


def test_copy_between_registries_keeps_the_index_digest(
    registry: Registry, secure_registry: Registry, layout: Path
) -> None:
    index = oci.write_index(layout, "v3", seed="copied")
    oci.push(layout, "upstream/multi:v3", registry)

    copied = oci.copy(registry, "upstream/multi:v3", secure_registry, "backup/multi:v3")

    assert copied == index.digest
    assert secure_registry.manifest_digest("backup/multi", "v3") == index.digest
    assert secure_registry.manifest("backup/multi", "v3").body == (
        registry.manifest("upstream/multi", "v3").body
    )
    for image in index.images:
        assert secure_registry.manifest_digest("backup/multi", image.digest) == image.digest
    assert secure_registry.stored_blobs() == index.blobs


def test_deleted_manifest_is_gone(secure_registry: Registry, layout: Path) -> None:
    image = oci.write_image(layout, "v1", seed="deleted")
    oci.push(layout, "team/app:v1", secure_registry)

    secure_registry.delete_manifest("team/app", image.digest)

    for ref in ("v1", image.digest):
        with pytest.raises(RegistryError) as gone:
            secure_registry.manifest_digest("team/app", ref)
        assert gone.value.status == 404


def test_delete_needs_the_option(registry: Registry, layout: Path) -> None:
    image = oci.write_image(layout, "v1", seed="kept")
    oci.push(layout, "team/app:v1", registry)

    with pytest.raises(RegistryError) as refused:
        registry.delete_manifest("team/app", image.digest)

    assert refused.value.status == 405
    assert registry.manifest_digest("team/app", "v1") == image.digest
