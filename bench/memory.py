"""``python -m bench.memory ARTWORK TEMPLATE``: one full job in a fresh process, printing its
peak memory as JSON. A fresh process because an allocator keeps freed memory: measured in a
long-running process, the second job's "peak above the level before" is close to nothing.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from bench.run import TABLES_DIR
from preflight.checks import CheckConfig
from preflight.color import ColorSettings, ConversionTables, ProfileLibrary
from preflight.job import JobRequest, run_job
from preflight.loading import LoadLimits
from preflight.runtime import prepare_compiled_code, prepare_job_process
from preflight.templates import load_catalog


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    # VmHWM, not getrusage's ru_maxrss: the latter survives exec, so a child started by a
    # large parent reports the parent's size (the benchmark's own process reaches GBs).
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> int:
    prepare_job_process()  # as every process that runs jobs does (see preflight.runtime)
    artwork, template_id = Path(sys.argv[1]), sys.argv[2]
    catalog = load_catalog()
    profiles = ProfileLibrary()
    template = catalog.get(template_id)
    others = tuple(t for t in catalog if t.id != template_id)
    data = artwork.read_bytes()
    request = JobRequest(
        template=template,
        artwork_bytes=data,
        artwork_name=artwork.name,
        checks=CheckConfig(other_templates=others),
        limits=LoadLimits(max_file_bytes=400 * 1024 * 1024),
    )
    # A worker maps the default conversion's table once, for all its jobs (the page cache holds
    # one copy for every process on the machine): mapped before the baseline, and reported.
    before_table = _rss_bytes()
    tables = ConversionTables(TABLES_DIR)
    tables.prepare(None, profiles.get("chemical-proof"), ColorSettings())
    before_detectors = _rss_bytes()
    prepare_compiled_code()  # a worker loads its compiled code at start, as the table
    baseline = _rss_bytes()  # libraries imported, catalog and profiles loaded, input read
    run_job(request, profiles, tables)
    peak = _peak_rss_bytes()
    print(
        json.dumps(
            {
                "baseline_mb": baseline / 1e6,
                "shared_table_mb": (before_detectors - before_table) / 1e6,
                "face_search_mb": (baseline - before_detectors) / 1e6,
                "peak_mb": (peak - baseline) / 1e6,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
