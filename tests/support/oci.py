"""Writes small OCI image layouts from Python, and copies images with skopeo, for tests."""

import gzip
import hashlib
import io
import json
import random
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.support.registry import Registry

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

Platform = tuple[str, str]  # (os, architecture)
MULTI_ARCH: tuple[Platform, ...] = (("linux", "amd64"), ("linux", "arm64"))


@dataclass(frozen=True)
class Descriptor:
    """What an OCI descriptor says of a blob: media type, digest, size."""

    media_type: str
    digest: str
    size: int

    def as_json(self) -> dict[str, object]:
        """The descriptor as it appears in a manifest or index."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Image:
    """One platform's image: its manifest, config and layers."""

    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    platform: Platform

    @property
    def digest(self) -> str:
        """The manifest digest, which a registry must report unchanged."""
        return self.manifest.digest

    @property
    def blobs(self) -> set[str]:
        """Every digest a registry stores for this image, the manifest included."""
        return {self.manifest.digest, self.config.digest, *(d.digest for d in self.layers)}

    @property
    def size(self) -> int:
        """Bytes of manifest, config and layers."""
        return self.manifest.size + self.config.size + sum(d.size for d in self.layers)


@dataclass(frozen=True)
class ImageIndex:
    """A multi-platform image: an index and one image per platform."""

    index: Descriptor
    images: tuple[Image, ...]

    @property
    def digest(self) -> str:
        """The index digest, which a registry must report unchanged."""
        return self.index.digest

    @property
    def blobs(self) -> set[str]:
        """Every distinct digest a registry stores for this index (shared layers once)."""
        return {self.index.digest}.union(*(image.blobs for image in self.images))


def sha256_digest(data: bytes) -> str:
    """The OCI digest of `data`."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _layer(seed: str, size: int) -> tuple[bytes, str]:
    """A gzip'ed tar with one file of `size` random bytes drawn from `seed`; and its diff ID.

    Random, so that gzip cannot shrink it: a layer of N bytes costs N bytes to copy.
    Fixed times, owners and gzip mtime, so the same seed always gives the same digest.
    """
    content = random.Random(seed).randbytes(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(f"cheiron-test/{hashlib.sha256(seed.encode()).hexdigest()[:16]}")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, compresslevel=1, mtime=0), sha256_digest(uncompressed)


class Layout:
    """An OCI image layout directory (oci-layout, index.json, blobs/sha256/...)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        if not (path / "index.json").exists():
            self._write_index([])

    def write_blob(self, data: bytes, media_type: str) -> Descriptor:
        """Store a blob under its digest."""
        digest = sha256_digest(data)
        (self.path / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
        return Descriptor(media_type, digest, len(data))

    def tag(self, descriptor: Descriptor, tag: str) -> None:
        """Name a manifest or index in index.json (what `oci:DIR:tag` looks up)."""
        entries = [e for e in self._read_index() if e.get("annotations", {}).get(REF_NAME) != tag]
        entries.append({**descriptor.as_json(), "annotations": {REF_NAME: tag}})
        self._write_index(entries)

    def _read_index(self) -> list[dict[str, Any]]:
        manifests: list[dict[str, Any]] = json.loads((self.path / "index.json").read_text())[
            "manifests"
        ]
        return manifests

    def _write_index(self, manifests: Sequence[object]) -> None:
        document = {"schemaVersion": 2, "mediaType": INDEX, "manifests": list(manifests)}
        (self.path / "index.json").write_text(json.dumps(document, indent=2))

    def image(self, platform: Platform, layers: Sequence[tuple[bytes, str]]) -> Image:
        """Store config, layers and manifest of one platform's image (gzip'ed layer, diff ID)."""
        layer_descriptors = tuple(self.write_blob(gz, LAYER) for gz, _ in layers)
        os_name, architecture = platform
        config = self.write_blob(
            _json_bytes(
                {
                    "architecture": architecture,
                    "os": os_name,
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
                }
            ),
            CONFIG,
        )
        manifest = self.write_blob(
            _json_bytes(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST,
                    "config": config.as_json(),
                    "layers": [d.as_json() for d in layer_descriptors],
                }
            ),
            MANIFEST,
        )
        return Image(manifest, config, layer_descriptors, platform)


def write_image(
    layout_dir: Path,
    tag: str,
    *,
    seed: str = "image",
    layers: int = 2,
    layer_size: int = 1024,
    platform: Platform = ("linux", "amd64"),
) -> Image:
    """A single-platform image of `layers` layers, tagged `tag` in the layout.

    Different seeds give different digests; the same seed gives the same image.
    """
    layout = Layout(layout_dir)
    image = layout.image(platform, [_layer(f"{seed}/{i}", layer_size) for i in range(layers)])
    layout.tag(image.manifest, tag)
    return image


def write_index(
    layout_dir: Path,
    tag: str,
    *,
    seed: str = "index",
    layer_size: int = 1024,
    platforms: Sequence[Platform] = MULTI_ARCH,
) -> ImageIndex:
    """A multi-platform index tagged `tag`: per platform one shared and one own layer.

    The shared layer (same digest in every image) exercises a copier's blob dedup.
    """
    layout = Layout(layout_dir)
    shared = _layer(f"{seed}/shared", layer_size)
    images = tuple(
        layout.image(platform, [shared, _layer(f"{seed}/{'/'.join(platform)}", layer_size)])
        for platform in platforms
    )
    entries = [
        {
            **image.manifest.as_json(),
            "platform": {"os": image.platform[0], "architecture": image.platform[1]},
        }
        for image in images
    ]
    index = layout.write_blob(
        _json_bytes({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}), INDEX
    )
    layout.tag(index, tag)
    return ImageIndex(index, images)


# -- copying with skopeo -------------------------------------------------------------------


class SkopeoError(RuntimeError):
    """skopeo failed; the message carries its stderr."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"skopeo exited with {returncode}: {' '.join(args)}\n{stderr}")
        self.returncode = returncode
        self.stderr = stderr


def _registry_flags(
    side: Literal["src", "dest"], registry: Registry, creds: tuple[str, str] | None
) -> list[str]:
    flags = (
        [f"--{side}-cert-dir={registry.cert_dir}"]
        if registry.tls
        # Plain HTTP on loopback: skopeo refuses it unless told not to verify TLS.
        else [f"--{side}-tls-verify=false"]
    )
    creds = creds or registry.auth
    if creds is not None:
        flags.append(f"--{side}-creds={creds[0]}:{creds[1]}")
    return flags


def skopeo_copy(
    source: str, destination: str, *flags: str, all_platforms: bool = True, timeout: float = 300
) -> str:
    """`skopeo copy` between two transports; returns the manifest digest it wrote."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise RuntimeError("skopeo is missing; install it with `make registry-tools`")
    with tempfile.TemporaryDirectory(prefix="cheiron-skopeo-") as tmp:
        digest_file = Path(tmp) / "digest"
        args = [
            skopeo,
            # The machine's policy.json is not the tests' business; test images are unsigned.
            "--insecure-policy",
            "copy",
            "--quiet",
            f"--digestfile={digest_file}",
            *(["--all"] if all_platforms else []),
            *flags,
            source,
            destination,
        ]
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise SkopeoError(args, done.returncode, done.stderr)
        return digest_file.read_text().strip()


def push(
    layout_dir: Path,
    ref: str,
    registry: Registry,
    *,
    layout_tag: str | None = None,
    creds: tuple[str, str] | None = None,
) -> str:
    """Copy `oci:layout_dir:TAG` (all platforms) to `registry/ref`; returns the pushed digest.

    TAG is `ref`'s tag unless `layout_tag` names another; `creds` override the registry's own.
    """
    tag = layout_tag or ref.rpartition(":")[2]
    return skopeo_copy(
        f"oci:{layout_dir}:{tag}",
        f"docker://{registry.host}/{ref}",
        *_registry_flags("dest", registry, creds),
    )


def copy(source: Registry, source_ref: str, destination: Registry, destination_ref: str) -> str:
    """Copy an image or index (all platforms) between registries; returns the copied digest."""
    return skopeo_copy(
        f"docker://{source.host}/{source_ref}",
        f"docker://{destination.host}/{destination_ref}",
        *_registry_flags("src", source, None),
        *_registry_flags("dest", destination, None),
    )
