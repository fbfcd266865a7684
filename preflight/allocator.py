"""The C allocator's setting for processes that run jobs (called by entry points, never on import).

A job allocates and frees canvas-sized buffers (25 MB each on an iPad canvas) on two threads.
glibc's malloc gives each thread that meets contention an arena of its own, and memory freed
in one arena is not reused by another, so a two-thread job's resident memory climbed well
above what it held at any moment. One arena for the whole process keeps the peak at the live
working set: measured with ``bench/memory.py`` over the benchmark's twelve inputs, 30–60 MB
less a job (iPad canvas from 2400×3000 JPEG: 226 → 168 MB), with no measurable change in job
time (the heavy work allocates a few large blocks, not many small ones). The same setting as
the environment variable ``MALLOC_ARENA_MAX=1``, made by the process itself so that no
launcher can forget it.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["use_one_malloc_arena"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def use_one_malloc_arena() -> bool:
    """Limit glibc's malloc to one arena; ``False`` where the C library is not glibc.

    Call it at process start, before threads allocate: arenas made earlier are kept.
    Forked children (Celery's pool) inherit the setting.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, 1))
