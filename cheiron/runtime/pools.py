"""Bounded executors of their own for Kubernetes and AWS calls, so neither waits on the other.

Every blocking call of the operator used to share the event loop's default pool: twelve
managers whose ECR endpoint never answers held its threads, and no manager could write a
Secret until they timed out. Now Kubernetes calls have the default pool to themselves, AWS
calls a pool of their own, and each AWS endpoint a cap on the calls in flight, so a
black-holed endpoint holds a few AWS threads at most and slows only the managers using it.
Registry copies run as async subprocesses (sources/skopeo.py) and need no thread.
"""

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# More than the loop's default (cores + 4): the work queue and the managers' write
# semaphores, not this pool, bound the Kubernetes writes in flight.
KUBE_THREADS = 24
AWS_THREADS = 16
CALLS_PER_ENDPOINT = 4


class Pools:
    """The executors; `install` makes the Kubernetes one the loop's default."""

    def __init__(
        self,
        kube_threads: int = KUBE_THREADS,
        aws_threads: int = AWS_THREADS,
        calls_per_endpoint: int = CALLS_PER_ENDPOINT,
    ) -> None:
        """Threads are started lazily by the executors, so building one costs nothing."""
        self.kube = concurrent.futures.ThreadPoolExecutor(
            kube_threads, thread_name_prefix="cheiron-api"
        )
        self.aws = concurrent.futures.ThreadPoolExecutor(
            aws_threads, thread_name_prefix="cheiron-aws"
        )
        self.calls_per_endpoint = calls_per_endpoint
        self._endpoints: dict[str, asyncio.Semaphore] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio.to_thread (every Kubernetes call) runs on the Kubernetes pool."""
        loop.set_default_executor(self.kube)

    async def aws_call(self, endpoint: str, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` on the AWS pool once fewer than the cap of calls to `endpoint` are in flight.

        Waiting for the cap holds no thread: callers behind a slow endpoint queue here.
        """
        slot = self._endpoints.setdefault(endpoint, asyncio.Semaphore(self.calls_per_endpoint))
        async with slot:
            return await asyncio.get_running_loop().run_in_executor(self.aws, fn, *args)

    def shutdown(self) -> None:
        """Stop both pools without waiting for calls in flight (each has its own deadline)."""
        self.kube.shutdown(wait=False, cancel_futures=True)
        self.aws.shutdown(wait=False, cancel_futures=True)
