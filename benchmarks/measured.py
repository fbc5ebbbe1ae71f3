"""Shared by the benchmarks: run a function in a fresh process and measure its time and peak memory.

Peak memory is the process's peak resident size above what it held when the function started (the inputs,
made by `setup` in the same process, are not counted), or on a GPU the peak allocated above the inputs.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable
from typing import Any


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def _child(setup: Callable, function: Callable, args: tuple, cuda: bool, queue) -> None:
    inputs = setup(*args)
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    held = _rss_bytes()
    start = time.perf_counter()
    result = function(*inputs)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - held)
    queue.put((seconds, peak, result))


def in_fresh_process(target: Callable, *args) -> Any:
    """What ``target(*args, queue)`` puts on its queue, run in a spawned process (a fresh interpreter)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def measure(setup: Callable, function: Callable, *args, cuda: bool = False) -> tuple[float, int, Any]:
    """(seconds, peak bytes, result) of ``function(*setup(*args))`` in a spawned process; both picklable."""
    return in_fresh_process(_child, setup, function, args, cuda)
