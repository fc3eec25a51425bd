"""The synthetic export cut into nightly drops, as a department delivers it night after night.

``write_drops`` writes ``OUT/drop-001/`` .. ``OUT/drop-00N/``, each a complete delivery that
``middlestep run --drop OUT/drop-00K --department synthetic`` takes:

* the roster, the randomization and the unit history, whole, in every drop (byte-identical
  re-deliveries, which ingest skips);
* calls, their officers, videos, codings, force reports, complaints and training sessions by the
  day they became available: a call the day after it was received, a force report three days
  after the incident, a coding the day after it was coded (weeks to months after the footage), a
  complaint the day after it was received;
* some force reports first delivered with a preliminary level and injury flag and amended one to
  four weeks later, in the drop holding that day (the same report id, the values of the full
  export);
* the CAD's files re-deliver the last days of the previous drop (overlapping rows), and every
  drop after the first re-delivers the previous drop's video inventory file byte-identical.

Dated files carry the delivery day, ``cad_calls_20240105.parquet``, so the mapping's globs
(``cad_calls*.parquet``) take them. The union of the drops, the latest version of each record
winning, is the full export (tests/test_nightly.py).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from middlestep.synth.export import FILES, department_tables, write_table

# canonical table -> (canonical column of the event, days until the department delivers it)
AVAILABLE_AFTER: dict[str, tuple[str, int]] = {
    "training_events": ("attended_on", 1),
    "calls": ("received_at", 1),
    "bwc_videos": ("started_at", 1),
    "sso_codings": ("coded_at", 1),
    "force_reports": ("occurred_at", 3),
    "complaints": ("received_at", 1),
}
WHOLE_TABLES = ("officers", "trial_assignments", "officer_units")  # every drop, byte-identical
OVERLAP_DAYS = 2  # the CAD re-exports the last days of the previous drop
OVERLAPPING_TABLES = ("calls", "call_officers")
AMENDED_SHARE = 0.2  # of the force reports whose amendment day falls in a later drop
AMENDED_AFTER_DAYS = (7, 28)  # an amendment follows the first delivery by one to four weeks
REDELIVERED_TABLE = "bwc_videos"  # the previous drop's file, again, byte-identical


def drop_name(number: int) -> str:
    return f"drop-{number:03d}"


def availability_days(sim) -> dict[str, np.ndarray]:
    """Per dated table, the day number (days since 1970-01-01) each row becomes available."""
    days = {}
    for table, (column, lag) in AVAILABLE_AFTER.items():
        frame = getattr(sim, table)
        days[table] = frame[column].to_numpy(dtype="datetime64[D]").astype(np.int64) + lag
    call_day = dict(zip(sim.calls["call_id"].astype(str), days["calls"], strict=True))
    days["call_officers"] = np.array(
        [call_day[call] for call in sim.call_officers["call_id"].astype(str)], dtype=np.int64
    )
    return days


def even_cuts(days: dict[str, np.ndarray], n_drops: int) -> list[int]:
    """N-1 cut days spreading the deliveries evenly over the time they became available."""
    every = np.concatenate([d for d in days.values() if len(d)])
    first, last = int(every.min()), int(every.max())
    return [first + round(k * (last - first) / n_drops) for k in range(1, n_drops)]


def write_drops(
    sim,
    out_dir: Path,
    n_drops: int,
    *,
    seed: int = 1,
    cuts: list[dt.date] | None = None,
) -> list[Path]:
    """Write the drops of ``sim``'s export into ``out_dir``; returns the drop directories.

    Drop k holds what became available after cut k-1 up to and including cut k (``cuts``: N-1
    days, increasing; default spread evenly). The last drop holds everything after the last cut.
    """
    if n_drops < 1:
        raise ValueError("--drops needs at least 1 drop")
    out_dir = Path(out_dir)
    tables = department_tables(sim)
    days = availability_days(sim)
    if cuts is None:
        cut_days = even_cuts(days, n_drops)
    else:
        cut_days = [(cut - dt.date(1970, 1, 1)).days for cut in cuts]
        if len(cut_days) != n_drops - 1 or cut_days != sorted(cut_days):
            raise ValueError(f"{n_drops} drops need {n_drops - 1} increasing cut days")
    last_day = int(max(d.max() for d in days.values() if len(d)))
    edges = [-(10**9), *cut_days, max(last_day, *cut_days) if cut_days else last_day]
    drop_of = {table: np.searchsorted(cut_days, d, side="left") for table, d in days.items()}
    amended, amended_in = _amended_force_reports(days["force_reports"], cut_days, n_drops, seed)

    directories: list[Path] = []
    previous_stamp = ""
    for index in range(n_drops):
        directory = out_dir / drop_name(index + 1)
        directory.mkdir(parents=True, exist_ok=True)
        delivered_on = dt.date(1970, 1, 1) + dt.timedelta(days=int(edges[index + 1]))
        stamp = delivered_on.strftime("%Y%m%d")
        for table in WHOLE_TABLES:
            write_table(tables[FILES[table]], directory / FILES[table])
        for table in days:
            rows = drop_of[table] == index
            if table in OVERLAPPING_TABLES and index > 0:
                rows |= (days[table] > edges[index] - OVERLAP_DAYS) & (days[table] <= edges[index])
            everything = tables[FILES[table]]
            content = everything.filter(pa.array(rows))
            if table == "force_reports":
                content = _force_reports_of_drop(
                    everything, drop_of[table], amended, amended_in, index
                )
            write_table(content, directory / _dated(FILES[table], stamp))
        if index > 0:
            previous = _dated(FILES[REDELIVERED_TABLE], previous_stamp)
            shutil.copyfile(directories[-1] / previous, directory / previous)
        directories.append(directory)
        previous_stamp = stamp
    return directories


def _dated(file_name: str, stamp: str) -> str:
    stem, suffix = file_name.rsplit(".", 1)
    return f"{stem}_{stamp}.{suffix}"


def _amended_force_reports(
    days: np.ndarray, cut_days: list[int], n_drops: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which force reports are first delivered preliminary and amended later, and the drop of
    each amendment: the one holding the day one to four weeks after the first delivery (if that
    drop is the report's own, only the final version is delivered)."""
    rng = np.random.default_rng([seed, 20240101])
    drop_of = np.searchsorted(cut_days, days, side="left")
    low, high = AMENDED_AFTER_DAYS
    amended_in = np.searchsorted(cut_days, days + rng.integers(low, high + 1, len(days)), "left")
    amended = (amended_in > drop_of) & (rng.random(len(days)) < AMENDED_SHARE)
    eligible = drop_of < n_drops - 1
    if eligible.any() and not amended.any():
        # every delivery path is exercised: the report delivered last before a cut is amended
        last = np.flatnonzero(eligible)[np.argmax(days[eligible])]
        amended[last], amended_in[last] = True, drop_of[last] + 1
    return amended, amended_in


def _force_reports_of_drop(
    force: pa.Table, drop_of: np.ndarray, amended: np.ndarray, amended_in: np.ndarray, index: int
) -> pa.Table:
    """New reports of the drop (the amended ones in their preliminary version), then the
    amendments due in this drop in their final version (the full export's)."""
    new = force.filter(pa.array(drop_of == index))
    preliminary = pa.array(amended[drop_of == index])
    level, injured = new.column("FORCE_LVL"), new.column("SUBJ_INJ")
    other_level = pc.if_else(pc.equal(level, "L1"), "L2", "L1")
    flipped = pc.if_else(pc.equal(injured, "Y"), "N", "Y")
    for column, values in (
        ("FORCE_LVL", pc.if_else(preliminary, other_level, level)),
        ("SUBJ_INJ", pc.if_else(preliminary, flipped, injured)),
    ):
        new = new.set_column(new.column_names.index(column), column, values)
    amendments = force.filter(pa.array(amended & (amended_in == index)))
    return pa.concat_tables([new, amendments])
