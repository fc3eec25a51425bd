"""Department policy lives in the department's mapping file, not in code: its `defaults:`."""

from __future__ import annotations

from middlestep.mapping import load_mapping, parse_mapping
from middlestep.rollout import default_sample


def test_a_mapping_file_carries_the_departments_defaults():
    document = {"department_id": "x", "tables": {}, "defaults": {"sample": "omit-late"}}
    assert parse_mapping(document).defaults == {"sample": "omit-late"}
    assert parse_mapping({"department_id": "x", "tables": {}}).defaults == {}


def test_the_default_roll_out_sample_comes_from_the_department_yaml():
    assert load_mapping("chicago").defaults["sample"] == "main"
    assert default_sample("chicago") == "main"
    assert default_sample("synthetic") == "full"  # its mapping sets no sample
    assert default_sample("a_department_without_a_mapping") == "full"
