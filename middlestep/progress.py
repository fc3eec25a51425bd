"""Progress on a terminal for work that takes a while (build, gate, report, simulations).

A spinner with the elapsed time on stderr, only when both stdout and stderr are a terminal: a
scheduler's log or a pipe gets nothing, so the one-line summaries and ``--json`` output stay
clean.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextlib.contextmanager
def status(description: str) -> Iterator[None]:
    """Show ``description`` with a spinner and the elapsed time while the block runs."""
    if not on_terminal():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        bar.add_task(description, total=None)
        yield
