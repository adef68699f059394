"""Builds small runnable images from Debian's static busybox, for the local node's sandboxes.

The node cannot pull `registry.k8s.io/pause` (nothing leaves this machine), so its sandbox
image is built here: one layer holding /bin/busybox and its applet links, an entrypoint that
sleeps. The same layer makes the private images the end-to-end tests push to their registry.
"""

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
# The applets the sandbox and the tests call; each is a link to /bin/busybox.
# Not wget: static, it crashes in a root file system without the NSS files it looks for.
APPLETS = ("sh", "sleep", "ls", "cat", "echo", "printf", "id", "nc", "env", "true")

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# containerd's importer names an image after this annotation of the archive's index.
CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"

PAUSE_IMAGE = "localhost/cheiron/pause:3.10"
# PID 1 of a sandbox only has to exist; containerd stops sandboxes with SIGKILL.
PAUSE_ENTRYPOINT = ("/bin/sleep", "2147483647")


@dataclass(frozen=True)
class Blob:
    """One content-addressed blob of an image."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        """sha256:<hex> of the bytes."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        """The OCI descriptor that points at it."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class RunnableImage:
    """Manifest, config and the one layer of a busybox image."""

    manifest: Blob
    config: Blob
    layer: Blob

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Every blob, the manifest last."""
        return (self.layer, self.config, self.manifest)


def busybox_layer(busybox: Path = BUSYBOX, marker: str = "") -> tuple[bytes, str]:
    """A gzip'ed tar with /bin/busybox, its applet links and /tmp; and its diff ID.

    `marker`, when given, lands in /etc/cheiron-image so that two images differ by digest.
    Fixed times and owners: the same busybox and marker always give the same digest.
    """
    binary = busybox.read_bytes()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for directory in ("bin", "etc", "tmp"):
            add(directory, tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755)
        add("bin/busybox", tarfile.REGTYPE, 0o755, binary)
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        if marker:
            add("etc/cheiron-image", tarfile.REGTYPE, 0o644, marker.encode() + b"\n")
    uncompressed = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(uncompressed).hexdigest()
    return gzip.compress(uncompressed, compresslevel=6, mtime=0), diff_id


def _json(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def runnable_image(
    entrypoint: Sequence[str] = (),
    cmd: Sequence[str] = ("/bin/sh",),
    *,
    marker: str = "",
    busybox: Path = BUSYBOX,
) -> RunnableImage:
    """A linux/amd64 busybox image that runs `entrypoint` + `cmd` as root."""
    gz, diff_id = busybox_layer(busybox, marker)
    layer = Blob(OCI_LAYER, gz)
    runtime: dict[str, object] = {"Env": ["PATH=/bin"], "Cmd": list(cmd)}
    if entrypoint:
        runtime["Entrypoint"] = list(entrypoint)
    config = Blob(
        OCI_CONFIG,
        _json(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": runtime,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            }
        ),
    )
    manifest = Blob(
        OCI_MANIFEST,
        _json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ),
    )
    return RunnableImage(manifest, config, layer)


def write_layout(image: RunnableImage, layout: Path, tag: str, name: str = "") -> None:
    """Add the image to an OCI layout directory under `tag` (and containerd's `name`)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for blob in image.blobs:
        (blobs / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    index_path = layout / "index.json"
    entries: list[dict[str, object]] = []
    if index_path.exists():
        entries = [
            e
            for e in json.loads(index_path.read_text())["manifests"]
            if e.get("annotations", {}).get(REF_NAME) != tag
        ]
    annotations = {REF_NAME: tag, **({CONTAINERD_NAME: name} if name else {})}
    entries.append({**image.manifest.descriptor(), "annotations": annotations})
    index_path.write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    )


def write_archive(image: RunnableImage, archive: Path, name: str) -> None:
    """The image as an OCI archive (a tar of a layout) that `ctr images import` names `name`."""
    tag = name.rsplit(":", 1)[-1]
    with tarfile.open(archive, "w") as tar:

        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for blob in image.blobs:
            add(f"blobs/sha256/{blob.digest.removeprefix('sha256:')}", blob.data)
        annotations = {REF_NAME: tag, CONTAINERD_NAME: name}
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{**image.manifest.descriptor(), "annotations": annotations}],
        }
        add("index.json", _json(index))


def pause_image() -> RunnableImage:
    """The sandbox image: busybox sleeping for ever."""
    return runnable_image(PAUSE_ENTRYPOINT[:1], PAUSE_ENTRYPOINT[1:])
