"""Measures how long the local control plane takes to start and stop (run by hand).

Usage: uv run python bench/controlplane_startup.py [--runs N]
"""

import argparse
import statistics
import time

from cheiron.devcluster import ControlPlane


def main() -> None:
    """Start and stop the control plane N times and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    starts, stops = [], []
    for _ in range(runs):
        plane = ControlPlane()
        t0 = time.perf_counter()
        plane.start()
        t1 = time.perf_counter()
        plane.stop()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    print(f"runs={runs}")
    print(
        f"start to READY (readyz + default ServiceAccount): median {statistics.median(starts):.2f}s"
        f" min {min(starts):.2f}s max {max(starts):.2f}s"
    )
    print(f"stop: median {statistics.median(stops):.2f}s max {max(stops):.2f}s")


if __name__ == "__main__":
    main()
