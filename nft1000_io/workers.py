"""Worker processes for the jobs that run one collection per process (scan, export, separation, synthesis).

They start from a clean interpreter (forkserver where the platform has it, else spawn), never forked from the
calling process: a fork copies whatever lock another thread held at that moment (a progress bar's monitor, a
library's thread pool, a test runner's), and a pool of such children can wait forever. Seen here: a build with
``num_proc=2`` inside a long test session hung with its workers idle and its call queue empty.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A `ProcessPoolExecutor` of `workers` processes started cleanly (module docstring)."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
