"""A night with nothing new skips SQLMesh (middlestep/build_state.py): the last build's record is
returned when the raw inputs, the model project and the execution month are as it left them, and
any change of one of them goes through SQLMesh again."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from nightly_support import use_test_hash_key

from middlestep import build, build_state, nightly
from middlestep.warehouse import PROJECT_ROOT, Home, connect


@pytest.fixture
def built_home(nightly_drops, tmp_path) -> Home:
    use_test_hash_key()
    return Home.resolve(nightly_drops.copy_home(2, tmp_path / "home"))


def _execution_time_of(home: Home) -> dt.datetime:
    with connect(home.warehouse, read_only=True) as connection:
        return build._execution_time(lambda query: connection.execute(query).fetchall())


def test_a_night_with_nothing_new_does_not_open_sqlmesh(built_home, nightly_drops, monkeypatch):
    before = build.run(built_home.warehouse, PROJECT_ROOT)  # through SQLMesh or remembered

    def no_sqlmesh(*args, **kwargs):
        raise AssertionError("SQLMesh was opened on a night with nothing new")

    monkeypatch.setattr(build, "_context", no_sqlmesh)
    outcome = nightly.run_nightly(built_home, nightly_drops.drop(2), "synthetic")
    assert outcome.exit_code == 0, outcome.line
    assert "(nothing new: already gated and reported)" in outcome.line
    again = build.run(built_home.warehouse, PROJECT_ROOT)
    assert again.model_versions == before.model_versions and again.batches == before.batches
    assert again.plan_id == before.plan_id and again.execution_time == before.execution_time


def test_a_new_batch_a_changed_model_or_a_new_month_goes_through_sqlmesh(built_home, tmp_path):
    warehouse = built_home.warehouse
    build.run(warehouse, PROJECT_ROOT)  # remembers its key, if an earlier build did not
    when = _execution_time_of(built_home)
    assert build_state.recalled(warehouse, PROJECT_ROOT, lambda fetch: when) is not None

    next_month = when + dt.timedelta(days=31)
    assert build_state.recalled(warehouse, PROJECT_ROOT, lambda fetch: next_month) is None

    project = tmp_path / "project"
    for part in build_state.PROJECT_PARTS:
        shutil.copytree(PROJECT_ROOT / part, project / part)
    for name in build_state.PROJECT_FILES:
        shutil.copy(PROJECT_ROOT / name, project / name)
    assert build_state.recalled(warehouse, project, lambda fetch: when) is not None
    model = project / "models" / "marts" / "fct_calls.sql"
    model.write_text(model.read_text() + "\n-- an analyst's edit\n")
    assert build_state.recalled(warehouse, project, lambda fetch: when) is None

    with connect(warehouse) as connection:  # a new batch of calls
        connection.execute(
            "insert into raw.calls select * replace (_batch_id + 1000 as _batch_id) "
            "from raw.calls limit 1"
        )
    assert build_state.recalled(warehouse, PROJECT_ROOT, lambda fetch: when) is None
