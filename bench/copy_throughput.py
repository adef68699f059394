"""How fast skopeo copies a batch of images between two local registries (run by hand).

Usage: uv run python bench/copy_throughput.py [--images N] [--size-mib M] [--concurrency C ...]
Generates N distinct single-platform images of M MiB (two incompressible layers) and pushes
them to a source registry (untimed). Then, for each concurrency C, times `skopeo copy --all`
of every image into a fresh destination registry, then times the same copies again once
everything is there (what a periodic backup pays when nothing changed). Registries are
plain HTTP on loopback with filesystem storage in temp dirs, so disk and CPU set the pace.
"""

import argparse
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support import oci
from tests.support.registry import Registry

MIB = 1024 * 1024


def _copy_all(
    source: Registry, destination: Registry, names: Sequence[str], concurrency: int
) -> float:
    """Copy every image; returns the wall time in seconds."""

    def one(name: str) -> str:
        return oci.copy(source, f"{name}:v1", destination, f"backup/{name}:v1")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, names))
    return time.perf_counter() - started


def push_batch(
    layout: Path, source: Registry, count: int, layer_size: int, seed: str = ""
) -> tuple[list[str], list[oci.Image]]:
    """Write `count` distinct images and push them to `source` as `bench/imgNNN:v1`."""
    names = [f"bench/img{i:03d}" for i in range(count)]
    images = [
        oci.write_image(layout, n.replace("/", "-"), seed=f"{seed}{n}", layer_size=layer_size)
        for n in names
    ]

    def push(name: str) -> str:
        return oci.push(layout, f"{name}:v1", source, layout_tag=name.replace("/", "-"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(push, names))
    return names, images


def _report(label: str, seconds: float, images: int, copied_bytes: int | None) -> None:
    # Nothing is transferred when every blob is already there, so no MiB/s for that pass.
    rate = f"{copied_bytes / MIB / seconds:7.1f} MiB/s" if copied_bytes is not None else ""
    print(f"{label:<30} {seconds:7.2f} s  {images / seconds:6.2f} images/s  {rate}".rstrip())


def main() -> None:
    """Generate, push, then time the copies and print the rates."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size-mib", type=float, default=4.0, help="per image, in two layers")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    layer_size = int(args.size_mib * MIB / 2)

    with tempfile.TemporaryDirectory(prefix="cheiron-bench-") as tmp, Registry() as source:
        names, images = push_batch(Path(tmp) / "layout", source, args.images, layer_size)
        total = sum(image.size for image in images)
        print(
            f"{args.images} images, {total / MIB:.1f} MiB in all "
            f"({total / MIB / args.images:.2f} MiB each), skopeo copy --all, registry to registry"
        )
        for concurrency in args.concurrency:
            with Registry() as destination:
                first = _copy_all(source, destination, names, concurrency)
                again = _copy_all(source, destination, names, concurrency)
                # A copy that lost a blob would fail later restores; check every digest.
                for name, image in zip(names, images, strict=True):
                    assert destination.manifest_digest(f"backup/{name}", "v1") == image.digest
            _report(f"concurrency {concurrency}, fresh", first, args.images, total)
            _report(f"concurrency {concurrency}, all present", again, args.images, None)


if __name__ == "__main__":
    main()
