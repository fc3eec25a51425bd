"""Department policy lives in the department's mapping file, not in code: its `defaults:`."""

from __future__ import annotations

from middlestep.mapping import load_mapping, parse_mapping
from middlestep.rollout import default_sample


def test_a_mapping_file_carries_the_departments_defaults():
    document = {"department_id": "x", "tables": {}, "defaults": {"sample": "omit-late"}}
    assert parse_mapping(document).defaults == {"sample": "omit-late"}
    assert parse_mapping({"department_id": "x", "tables": {}}).defaults == {}


def test_the_default_roll_out_sample_comes_from_the_department_yaml():
    assert load_mapping("chicago").defaults["sample"] == "main-itt"
    assert default_sample("chicago") == "main-itt"
    assert default_sample("synthetic") == "full"  # its mapping sets no sample
    assert default_sample("a_department_without_a_mapping") == "full"


def test_chicagos_default_sample_does_not_condition_on_retention():
    """Whether an officer stays may respond to training: the default roll-out sample keeps the
    officers who left after assignment; the published (retained-only) samples stay available."""
    from middlestep.panel import SAMPLES

    default = SAMPLES[default_sample("chicago")]
    assert default.retained_only is False
    assert "no conditioning on retention" in default.description
    published = SAMPLES["main"]
    assert published.retained_only is True
    # the same restrictions otherwise
    assert (default.excluded_unit_types, default.first_trained_above) == (
        published.excluded_unit_types,
        published.first_trained_above,
    )
