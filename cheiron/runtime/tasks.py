"""Background tasks that nobody awaits, kept referenced until they finish."""

import asyncio
from collections.abc import Coroutine
from typing import Any

# The event loop keeps only weak references to tasks: one nobody holds may vanish mid-way.
_running: set["asyncio.Task[Any]"] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> "asyncio.Task[Any]":
    """Run `coro` on the running loop in the background."""
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
