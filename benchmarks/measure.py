"""Run one middlestep command in this process and write its wall time and peak memory.

`python -m benchmarks.measure OUT.json -- <middlestep arguments>`: a fresh process per step,
so the peak resident memory (ru_maxrss) is that step's own.
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
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with open(out_path, "w") as handle:
        json.dump({"seconds": seconds, "peak_mib": peak_mib, "exit_code": exit_code}, handle)
    return exit_code


if __name__ == "__main__":
    separator = sys.argv.index("--")
    sys.exit(measure(sys.argv[1], sys.argv[separator + 1 :]))
