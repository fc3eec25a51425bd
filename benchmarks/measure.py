"""Run one middlestep command in this process and write its wall time and peak memory.

`python -m benchmarks.measure OUT.json -- <middlestep arguments>`: a fresh process per step,
so the peak resident memory (ru_maxrss) is that step's own: the larger of this process's and of
any process it started and waited for (RUSAGE_CHILDREN).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from middlestep.cli import main


def measure(out_path: str, argv: list[str]) -> int:
    started = time.perf_counter()
    exit_code = main(argv)
    seconds = time.perf_counter() - started
    peak_kib = max(  # KiB on Linux
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    peak_mib = peak_kib / 1024
    with open(out_path, "w") as handle:
        json.dump({"seconds": seconds, "peak_mib": peak_mib, "exit_code": exit_code}, handle)
    return exit_code


if __name__ == "__main__":
    separator = sys.argv.index("--")
    sys.exit(measure(sys.argv[1], sys.argv[separator + 1 :]))
