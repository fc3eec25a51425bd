"""The synthetic department: determinism, the department's own format and its mapping, rates,
and the planted truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import yaml

from middlestep.contract import RAW_TABLES, SSO_ITEMS
from middlestep.synth import (
    ScenarioError,
    compute_truth,
    load_scenario,
    run_synth,
    simulate_department,
)
from middlestep.synth.clock import day_number, local_to_utc, utc_to_local
from middlestep.synth.scenario import merge_scenario

MAPPING = Path(__file__).resolve().parents[1] / "departments" / "synthetic.yaml"
SMALL = 0.2
SEED = 11
FAST_TRUTH = "truth:\n  monte_carlo_encounters: 100000\n"


def _digest(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
    }


@pytest.fixture(scope="module")
def fast_scenario_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "fast_truth.yaml"
    path.write_text(FAST_TRUTH)
    return path


@pytest.fixture(scope="module")
def small_export(tmp_path_factory, fast_scenario_file) -> Path:
    out = tmp_path_factory.mktemp("export") / "small"
    return run_synth(out, fast_scenario_file, SEED, SMALL)


@pytest.fixture(scope="module")
def small_sim(fast_scenario_file):
    return simulate_department(load_scenario(fast_scenario_file), SEED, SMALL)


@pytest.fixture(scope="module")
def default_sim():
    return simulate_department(load_scenario(), 3, 1.0)


@pytest.fixture(scope="module")
def mapping() -> dict:
    return yaml.safe_load(MAPPING.read_text())


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_writes_the_same_bytes(small_export, fast_scenario_file, tmp_path):
    again = run_synth(tmp_path / "again", fast_scenario_file, SEED, SMALL)
    assert _digest(again) == _digest(small_export)
    assert "truth.json" in _digest(again)


def test_another_seed_writes_other_data(small_export, fast_scenario_file, tmp_path):
    other = run_synth(tmp_path / "other", fast_scenario_file, SEED + 1, SMALL)
    first, second = _digest(small_export), _digest(other)
    assert first["cad_calls.parquet"] != second["cad_calls.parquet"]
    assert first["sso_coding_sheet.csv"] != second["sso_coding_sheet.csv"]


def test_small_scale_runs_fast(fast_scenario_file, tmp_path):
    started = time.perf_counter()
    run_synth(tmp_path / "quick", fast_scenario_file, 5, SMALL)
    assert time.perf_counter() - started < 15


# --- scenarios -----------------------------------------------------------------------------


def test_scenario_override_changes_only_the_keys_it_names(tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text(
        "force:\n  rate_ratio: 0.8\nsso_items:\n  empathy:\n    effect: 0.3\n"
        "officers:\n  n_trial: 100\n"
    )
    default, changed = load_scenario(), load_scenario(override)
    assert changed["force"]["rate_ratio"] == 0.8
    assert changed["sso_items"]["empathy"]["effect"] == 0.3
    assert changed["sso_items"]["empathy"]["mean"] == default["sso_items"]["empathy"]["mean"]
    assert changed["force"]["per_officer_month"] == default["force"]["per_officer_month"]
    assert changed["officers"]["n_trial"] == 100
    truth = compute_truth(merge_scenario(changed, yaml.safe_load(FAST_TRUTH)), 1, 1.0)
    assert truth["outcomes"]["force_reports"]["planted_effect"] == 0.8
    assert truth["outcomes"]["force_reports"]["estimand"] == pytest.approx(
        1 + truth["design"]["itt_dilution"] * (0.8 - 1)
    )


def test_scenario_rejects_unknown_keys(tmp_path):
    override = tmp_path / "typo.yaml"
    override.write_text("force:\n  rate_ration: 0.8\n")
    with pytest.raises(ScenarioError, match="force.rate_ration"):
        load_scenario(override)


def test_scenario_rejects_a_modifier_on_a_later_item(tmp_path):
    override = tmp_path / "order.yaml"
    override.write_text("sso_items:\n  civilian_weapon:\n    modifiers: {arrest: 1.0}\n")
    with pytest.raises(ScenarioError, match="listed above"):
        load_scenario(override)


# --- the department's format and its mapping ------------------------------------------------


def _read_export(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_every_mapped_file_and_column_exists(small_export, mapping):
    assert mapping["department_id"] == "synthetic"
    assert mapping["timezone"] == "America/New_York"
    assert set(mapping["tables"]) == set(RAW_TABLES)
    for table, spec in mapping["tables"].items():
        (path,) = small_export.glob(spec["file"])  # a glob: nightly drops date their files
        frame = _read_export(path)
        assert len(frame) > 0, spec["file"]
        for field, source in spec["columns"].items():
            assert field in RAW_TABLES[table].field_names
            column = source if isinstance(source, str) else source["column"]
            assert column in frame.columns, f"{spec['file']} lacks {column}"


def test_export_uses_the_departments_names_and_codes(small_export, mapping):
    canonical = {name for table in RAW_TABLES.values() for name in table.field_names}
    for spec in mapping["tables"].values():
        (path,) = small_export.glob(spec["file"])
        frame = _read_export(path)
        assert not canonical & set(frame.columns), spec["file"]
    roster = _read_export(small_export / "personnel_roster.csv")
    assert set(roster["GENDER"]) <= {"M", "F", "U"}
    assert roster["HIRE_DT"].str.fullmatch(r"\d\d/\d\d/\d{4}").all()
    sheet = _read_export(small_export / "sso_coding_sheet.csv")
    assert set(sheet["Q01_PERS_CONV"]) <= {"Y", "N"}


def test_civilian_name_is_exported_but_never_mapped(small_export, mapping):
    force = _read_export(small_export / "response_to_resistance.csv")
    assert force["SUBJ_NAME"].str.fullmatch(r"CIVILIAN-\d{6}").all()
    assert force["CIV_NO"].str.fullmatch(r"CIV-\d{6}").all()
    mapped = {
        source if isinstance(source, str) else source.get("column")
        for source in mapping["tables"]["force_reports"]["columns"].values()
    }
    assert "SUBJ_NAME" not in mapped
    assert RAW_TABLES["force_reports"].field("subject_key").is_civilian_identifier


def _apply_mapping(frame: pd.DataFrame, table: str, spec: dict, timezone: str) -> pd.DataFrame:
    """A reference reading of the mapping format (docs/contracts.md section 1), in pandas."""
    out = {}
    nulls = {"", "NA", "N/A", "NULL", "None", "nan"}
    for field_name, source in spec["columns"].items():
        contract = RAW_TABLES[table].field(field_name)
        if isinstance(source, str):
            source = {"column": source}
        text = frame[source["column"]].str.strip()
        text = text.where(~text.isin(nulls))
        if source.get("values"):
            known = {str(k): v for k, v in source["values"].items()}
            unknown = text.notna() & ~text.isin(list(known))
            assert not unknown.any(), f"{field_name}: unknown codes {set(text[unknown])}"
            text = text.map(known)
        if contract.type in ("DATE", "TIMESTAMP"):
            values = pd.to_datetime(text, format=source.get("format"))
            if contract.type == "TIMESTAMP":
                values = (
                    values.dt.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
                    .dt.tz_convert("UTC")
                    .dt.tz_localize(None)
                )
            out[field_name] = values.astype("datetime64[ns]")
        elif contract.type == "BOOLEAN":
            out[field_name] = text.str.lower().isin(["true", "t", "1", "yes", "y"])
        elif contract.type == "INTEGER":
            out[field_name] = text.astype(float).astype("int64")
        elif contract.type == "DOUBLE":
            out[field_name] = text.astype(float)
        else:
            out[field_name] = text.astype(object)
    return pd.DataFrame(out)


def _comparable(column: pd.Series, contract_type: str) -> pd.Series:
    if contract_type in ("DATE", "TIMESTAMP"):
        return column.astype("datetime64[ns]").reset_index(drop=True)
    if contract_type == "BOOLEAN":
        return column.astype(bool).reset_index(drop=True)
    if contract_type == "INTEGER":
        return column.astype("int64").reset_index(drop=True)
    if contract_type == "DOUBLE":
        return column.astype(float).round(0).reset_index(drop=True)
    return column.astype(object).where(column.notna(), np.nan).astype(str).reset_index(drop=True)


def test_mapping_turns_the_export_back_into_the_canonical_tables(small_export, small_sim, mapping):
    for table, spec in mapping["tables"].items():
        loaded = _apply_mapping(
            _read_export(next(small_export.glob(spec["file"]))), table, spec, mapping["timezone"]
        )
        expected = getattr(small_sim, table)
        assert len(loaded) == len(expected), table
        for field_name in spec["columns"]:
            contract_type = RAW_TABLES[table].field(field_name).type
            pd.testing.assert_series_equal(
                _comparable(loaded[field_name], contract_type),
                _comparable(expected[field_name], contract_type),
                check_names=False,
                obj=f"{table}.{field_name}",
            )


def test_local_time_conversion_matches_the_time_zone_database():
    zone = ZoneInfo("America/New_York")
    rng = np.random.default_rng(0)
    utc_seconds = rng.integers(
        day_number(dt.date(2023, 12, 1)) * 86400, day_number(dt.date(2027, 2, 1)) * 86400, 3000
    )
    local = utc_to_local(utc_seconds, (2023, 2027))
    for utc_s, local_s in zip(utc_seconds, local, strict=True):
        moment = dt.datetime.fromtimestamp(int(utc_s), dt.UTC).astimezone(zone)
        assert moment.replace(tzinfo=None) == dt.datetime(1970, 1, 1) + dt.timedelta(
            seconds=int(local_s)
        )
    unambiguous = local_to_utc(local, (2023, 2027))
    matches = unambiguous == utc_seconds
    # only times in the repeated autumn hour may convert back differently
    assert matches.mean() > 0.999


# --- rates and design ------------------------------------------------------------------------


def _active_officer_months(sim) -> pd.Series:
    months = pd.date_range("2023-01-01", "2025-12-01", freq="MS")
    separated = sim.officers.set_index("officer_id")["separated_on"]
    active = {
        officer: float(((pd.isna(sep)) | (months < sep)).sum() if pd.notna(sep) else len(months))
        for officer, sep in separated.items()
    }
    return pd.Series(active)


def test_rates_roughly_match_the_scenario(default_sim):
    sim = default_sim
    trial = set(sim.trial_assignments["officer_id"])
    months = _active_officer_months(sim)
    trial_months = months[months.index.isin(trial)].sum()
    attended = sim.call_officers["officer_id"].isin(trial).sum()
    assert attended / trial_months == pytest.approx(60, rel=0.08)
    force_trial = sim.force_reports["officer_id"].isin(trial).sum()
    assert force_trial / trial_months == pytest.approx(0.03, rel=0.35)
    complaints = sim.complaints["officer_id"].isin(trial).sum()
    assert complaints / trial_months == pytest.approx(0.02, rel=0.4)
    per_call = sim.call_officers.groupby("call_id", observed=True).size()
    assert set(per_call.unique()) <= {1, 2, 3}


def test_coded_clips_are_balanced_and_one_in_five_double_coded(default_sim):
    videos = default_sim.bwc_videos
    coded = videos[videos["is_sampled_for_coding"]]
    assert len(coded) == 600
    assert len(videos) == 3000
    post = coded["started_at"] >= pd.Timestamp("2024-01-01")
    assert abs(int(post.sum()) - 300) <= 2
    codings = default_sim.sso_codings
    per_video = codings.groupby("video_id", observed=True)["coder_id"].agg(["size", "nunique"])
    assert (per_video["size"] == 2).sum() == 120
    assert (per_video["nunique"] == per_video["size"]).all()  # two different coders
    assert set(codings["codebook_version"]) == {"v1"}
    for item, kind in SSO_ITEMS.items():
        allowed = {0, 1} if kind == "binary" else set(range(1, 6)) if kind == "rating" else None
        if allowed:
            assert set(codings[item].unique()) <= allowed, item
        else:
            assert codings[item].min() >= 0


def test_randomization_is_one_to_one_within_blocks(default_sim):
    counts = default_sim.trial_assignments.groupby(["block_id", "arm"], observed=True).size()
    per_block = counts.unstack("arm")
    assert (abs(per_block["treatment"] - per_block["control"]) <= 1).all()
    assert len(default_sim.trial_assignments) == 300


def test_non_compliers_are_never_treated(default_sim):
    facts = default_sim.officer_facts
    treatment = facts[facts["arm"] == "treatment"]
    assert 0.8 < treatment["is_complier"].mean() < 0.99
    assert treatment.loc[~treatment["is_complier"], "trained_on"].isna().all()
    encounters = default_sim.encounters
    untrained = set(facts.loc[facts["trained_on"].isna(), "officer_id"])
    assert not encounters.loc[encounters["officer_id"].isin(untrained), "is_treated"].any()
    assert not encounters.loc[encounters["period"] == "pre", "is_treated"].any()
    completed = default_sim.training_events[default_sim.training_events["is_completed"]]
    assert set(completed["officer_id"]) == set(facts.loc[facts["trained_on"].notna(), "officer_id"])


# --- truth -----------------------------------------------------------------------------------


def test_truth_has_estimands_for_the_planted_outcomes(small_export):
    truth = json.loads((small_export / "truth.json").read_text())
    assert truth["seed"] == SEED and truth["scale"] == SMALL
    assert truth["scenario"]["sso_items"]["personal_conversation"]["effect"] == 0.08
    outcomes = truth["outcomes"]
    assert set(SSO_ITEMS) | {"force_reports", "complaints"} == set(outcomes)
    assert set(truth["planted_outcomes"]) == {
        "personal_conversation",
        "repeated_commands",
        "empathy",
        "commands_issued",
    }
    dilution = truth["design"]["itt_dilution"]
    assert 0.85 < dilution < 0.92
    conversation = outcomes["personal_conversation"]
    assert conversation["scale_of_estimand"] == "difference"
    # diluted by non-compliance and by coder misclassification (1 - 2 x 0.05), a little by clipping
    assert conversation["estimand"] == pytest.approx(0.08 * dilution * 0.9, rel=0.03)
    assert outcomes["repeated_commands"]["estimand"] < -0.05
    assert outcomes["empathy"]["scale_of_estimand"] == "sd"
    assert 0.08 < outcomes["empathy"]["estimand"] < 0.15
    assert outcomes["commands_issued"]["scale_of_estimand"] == "rate_ratio"
    assert 0.9 < outcomes["commands_issued"]["estimand"] < 0.93
    assert outcomes["force_reports"]["estimand"] == 1.0
    assert outcomes["explained_reason"]["estimand"] == 0.0  # no effect, common random numbers
    assert truth["realized"]["coded_clips"] == 120


def test_expected_codes_match_simulated_coders():
    """The estimands integrate coder error out exactly; simulated coders must agree."""
    from middlestep.synth.encounters import (
        CodingErrors,
        code_encounters,
        draw_encounter_noise,
        draw_officer_effects,
        draw_true_counts,
        encounter_truth,
        expected_codes,
    )

    scenario = load_scenario()
    items = scenario["sso_items"]
    rng = np.random.default_rng(1)
    n = 100_000
    call_types = list(scenario["calls"]["types"])
    truth = encounter_truth(
        items,
        draw_officer_effects(rng, n, items),
        call_types,
        rng.integers(0, len(call_types), n),
        rng.random(n) < 0.5,
        draw_encounter_noise(rng, n, items),
    )
    errors = CodingErrors.from_scenario(scenario)
    codes = code_encounters(
        rng, items, errors, truth, draw_true_counts(rng, truth, items), np.arange(n)
    )
    expected = expected_codes(items, errors, truth)
    for item in ("personal_conversation", "empathy", "commands_issued", "used_profanity"):
        mean, variance = expected[item]
        tolerance = 4 * np.sqrt(variance.mean() / n)
        assert codes[item].mean() == pytest.approx(mean.mean(), abs=tolerance), item
