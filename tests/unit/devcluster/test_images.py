"""The busybox images the local node runs: runnable, reproducible, named for containerd."""

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from cheiron.devcluster.images import (
    APPLETS,
    CONTAINERD_NAME,
    PAUSE_ENTRYPOINT,
    PAUSE_IMAGE,
    pause_image,
    runnable_image,
    write_archive,
    write_layout,
)


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    """A stand-in for /bin/busybox: the builder copies bytes, it never runs them."""
    path = tmp_path / "busybox"
    path.write_bytes(b"\x7fELF not really busybox")
    return path


def test_the_same_input_gives_the_same_digest_and_a_marker_another(busybox: Path) -> None:
    first = runnable_image(busybox=busybox, marker="a")
    assert runnable_image(busybox=busybox, marker="a").manifest.digest == first.manifest.digest
    assert runnable_image(busybox=busybox, marker="b").manifest.digest != first.manifest.digest


def test_the_layer_holds_busybox_and_its_applets(busybox: Path) -> None:
    image = runnable_image(busybox=busybox)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(image.layer.data))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        extracted = tar.extractfile("bin/busybox")
        assert extracted is not None
        assert extracted.read() == busybox.read_bytes()
    assert members["bin/busybox"].mode == 0o755
    for applet in APPLETS:
        assert members[f"bin/{applet}"].issym()
        assert members[f"bin/{applet}"].linkname == "busybox"
    config = json.loads(image.config.data)
    diff_id = config["rootfs"]["diff_ids"][0]
    assert diff_id == "sha256:" + hashlib.sha256(gzip.decompress(image.layer.data)).hexdigest()


def test_the_pause_image_sleeps(busybox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cheiron.devcluster.images.BUSYBOX", busybox)
    config = json.loads(pause_image().config.data)["config"]
    assert config["Entrypoint"] + config["Cmd"] == list(PAUSE_ENTRYPOINT)


def test_an_archive_names_the_image_for_containerd(busybox: Path, tmp_path: Path) -> None:
    image = runnable_image(busybox=busybox)
    archive = tmp_path / "pause.tar"
    write_archive(image, archive, PAUSE_IMAGE)
    with tarfile.open(archive) as tar:
        index_file = tar.extractfile("index.json")
        assert index_file is not None
        index = json.loads(index_file.read())
        names = set(tar.getnames())
    (entry,) = index["manifests"]
    assert entry["digest"] == image.manifest.digest
    assert entry["annotations"][CONTAINERD_NAME] == PAUSE_IMAGE
    assert {f"blobs/sha256/{b.digest.removeprefix('sha256:')}" for b in image.blobs} <= names


def test_a_layout_keeps_other_tags(busybox: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    write_layout(runnable_image(busybox=busybox, marker="1"), layout, "1")
    write_layout(runnable_image(busybox=busybox, marker="2"), layout, "2")
    write_layout(runnable_image(busybox=busybox, marker="2b"), layout, "2")
    index = json.loads((layout / "index.json").read_text())
    tags = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert sorted(tags) == ["1", "2"]
