"""Process settings for processes that run jobs (called by entry points, never on import).

Two settings of the process, not of a job, so the entry points make them: the CLI, both kinds
of worker process and the benchmark, before any job thread starts.

* **One malloc arena.** A job allocates and frees canvas-sized buffers (25 MB each on an
  iPad canvas) on two threads. glibc's malloc gives each thread that meets contention an
  arena of its own, and memory freed in one arena is not reused by another, so a two-thread
  job's resident memory climbed well above what it held at any moment. One arena keeps the
  peak near the live working set: measured with ``bench/memory.py`` over the benchmark's
  twelve inputs, 30–60 MB less a job (iPad canvas from 2400×3000 JPEG: 226 → 168 MB), with
  no measurable change in job time (the heavy work allocates a few large blocks, not many
  small ones). The same as ``MALLOC_ARENA_MAX=1``, made by the process itself so that no
  launcher can forget it.
* **A 1 ms GIL switch interval** (Python's default is 5 ms). The content analysis holds the
  GIL much of the time while the other job thread converts, encodes and draws; each of the
  other thread's library calls waits for the GIL to start and to return. Handing it over
  sooner shortened two-thread jobs by 5–15% (medians, iPhone 15 and iPad 10 jobs, four
  alternating runs).

And the compiled code (:func:`prepare_compiled_code`): loaded at a worker's start, not in its
first job.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from preflight.cmyk_grid import prepare_cmyk_grid
from preflight.colorshift import prepare_color_shift
from preflight.content import prepare_detectors
from preflight.guide_marks import prepare_guide_marks
from preflight.png_reader import prepare_png_reader
from preflight.resample import prepare_resampling

__all__ = ["prepare_compiled_code", "prepare_job_process"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
_SWITCH_INTERVAL_S = 0.001


def prepare_job_process() -> None:
    """Make this process's settings for running jobs (see the module docstring).

    Call it at process start, before threads allocate: arenas made earlier are kept. Forked
    children (Celery's pool) inherit both settings.
    """
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    _use_one_malloc_arena()


def prepare_compiled_code() -> None:
    """Load every compiled loop now (the face search, the PNG unfilter, the resampling
    passes, the colour-shift pair search, the soft proof's grid, the guide search): compiled
    on a machine's first run (~13 s in all), loaded from Numba's on-disk cache afterwards
    (~0.3 s), so that a worker's first job does not wait for them. Worker processes and the
    benchmark call it at start."""
    prepare_detectors()
    prepare_png_reader()
    prepare_resampling()
    prepare_color_shift()
    prepare_cmyk_grid()
    prepare_guide_marks()


def _use_one_malloc_arena() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, 1))
