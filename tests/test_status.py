"""`middlestep status` tells the truth: a report is current only when it is on disk and was made
from the last gated build; times are local, with the zone."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time

import pytest
from nightly_support import use_test_hash_key

from middlestep import nightly
from middlestep.warehouse import Home
from middlestep.warehouse.runlog import local_time, read_run_log


def test_status_calls_the_report_current_only_when_it_is_there(nightly_drops, tmp_path):
    home = Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))
    assert nightly.status_text(home).splitlines()[-1].startswith("next: nothing")
    shutil.rmtree(home.report_dir)
    text = nightly.status_text(home)
    assert "(missing on disk)" in text
    assert text.splitlines()[-1].endswith("no report is on disk: run `middlestep report`")


def test_status_does_not_call_another_builds_report_current(nightly_drops, tmp_path):
    home = Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))
    results = home.report_dir / "results.json"
    document = json.loads(results.read_text())
    document["provenance"]["build_id"] = "0123456789abcdef"  # a report of an older build
    results.write_text(json.dumps(document))
    text = nightly.status_text(home)
    assert "now holds the report of build 0123456789abcdef" in text
    assert "the report on disk is of build 0123456789abcdef" in text.splitlines()[-1]


def test_a_run_whose_report_is_gone_writes_it_again(nightly_drops, tmp_path):
    use_test_hash_key()
    home = Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))
    shutil.rmtree(home.report_dir)
    outcome = nightly.run_nightly(home, nightly_drops.drop(2), "synthetic")
    assert outcome.exit_code == 0, outcome.line
    assert "nothing new" not in outcome.line and (home.report_dir / "index.html").exists()
    assert nightly.status_text(home).splitlines()[-1].startswith("next: nothing")


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_status_shows_local_times_with_the_zone(nightly_drops, new_york):
    home = Home.resolve(nightly_drops.clean_home(2))
    last = [entry for entry in read_run_log(home) if entry["step"] == "run"][-1]
    at = dt.datetime.fromisoformat(last["at"]).astimezone()
    assert at.utcoffset() in (dt.timedelta(hours=-5), dt.timedelta(hours=-4))
    expected = at.strftime("%Y-%m-%d %H:%M ") + at.strftime("%Z")
    assert local_time(last["at"]) == expected and expected.endswith(("EST", "EDT"))
    assert f"last run: {expected} drop-002" in nightly.status_text(home)
    assert local_time(dt.datetime(2024, 1, 5, 5, 24)) == "2024-01-05 00:24 EST"  # naive = UTC
