"""The command line as an analyst and a scheduler use it, on a small synthetic department built
once for the module through the CLI itself: `--json` of ingest, build, check, run and status,
global options on either side of the subcommand, help with examples, the exports (CSV, Parquet,
Stata with labels), the primary force estimate redone from the exported panel, and the analyst's
SQLMesh loop (`middlestep sqlmesh`) with SQLMesh's failures summarized."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from nightly_support import use_test_hash_key

from analysis.sandwich import cluster_covariance
from middlestep import progress
from middlestep.cli import main
from middlestep.cli_parser import build_parser
from middlestep.export import mart_names
from middlestep.warehouse import Home

SCALE = 0.2


def run_json(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def department(tmp_path_factory):
    """A synthetic department synthesised, ingested, built, gated and reported by the CLI, with
    each command's `--json` document."""
    use_test_hash_key()
    root = tmp_path_factory.mktemp("cli")
    home, export = root / "home", root / "export"
    documents = {}

    def call(*args: str) -> dict:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main([*args])
        documents.setdefault("codes", {})[args[0]] = code
        return json.loads(out.getvalue())

    call("synth", "--out", str(export), "--scale", str(SCALE), "--json")
    # global options after the subcommand, and before it
    documents["ingest"] = call(
        "ingest", str(export), "--department", "synthetic", "--home", str(home), "--json"
    )
    documents["build"] = call("--home", str(home), "--json", "build")
    documents["check"] = call("check", "--json", "--home", str(home))
    documents["report"] = call("report", "--permutations", "20", "--home", str(home), "--json")
    return root, Home.resolve(home), documents


def test_ingest_build_check_json_carry_the_one_line_summaries_fields(department):
    _, _, documents = department
    ingest = documents["ingest"]
    assert ingest["department"] == "synthetic"
    assert ingest["rows_read"] == ingest["rows_loaded"] + ingest["rows_rejected"] > 0
    assert ingest["files_failed"] == 0 and len(ingest["files"]) >= 9
    assert {"table", "source_file", "status", "rows_loaded"} <= set(ingest["files"][0])
    build = documents["build"]
    assert len(build["build_id"]) == 16 and build["n_models"] == len(build["model_versions"])
    check = documents["check"]
    assert check["passed"] is True and check["build_id"] == build["build_id"]
    assert check["n_failed"] == 0 and check["n_expectations"] > 50
    assert documents["codes"] == {"synth": 0, "ingest": 0, "--home": 0, "check": 0, "report": 0}
    assert documents["report"]["html"].endswith("index.html")


def test_run_and_status_json(department, capsys):
    root, home, documents = department
    # the export again: every file already loaded, the build gated and reported
    code, run = run_json(
        capsys, "run", "--drop", str(root / "export"), "--department", "synthetic",
        "--home", str(home.root),
    )  # fmt: skip
    assert code == run["exit_code"] == 0
    assert run["outcome"] == "OK" and run["line"].startswith("middlestep run: OK export")
    assert run["build_id"] == documents["build"]["build_id"]
    assert run["files_loaded"] == 0 and run["files_skipped"] == len(documents["ingest"]["files"])
    code, status = run_json(capsys, "status", "--home", str(home.root))
    assert code == 0 and status["home"] == str(home.root)
    assert status["last_run"]["outcome"] == "OK" and status["gate_passed"] is True
    assert status["build_id"] == run["build_id"] and status["next"].startswith("nothing")
    assert {row["table"] for row in status["freshness"]} >= {"calls", "force_reports"}


def test_global_options_either_side_version_and_examples(capsys, tmp_path):
    parser = build_parser()
    before = parser.parse_args(["--home", "A", "-v", "status"])
    after = parser.parse_args(["status", "--home", "A", "-v"])
    assert (before.home, before.verbose) == (after.home, after.verbose) == ("A", True)
    assert parser.parse_args(["--home", "A", "status", "--home", "B"]).home == "B"
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("middlestep ")
    subcommands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    for name, subparser in subcommands.items():
        text = subparser.format_help()
        assert "examples:\n  middlestep " in text, name
        for action in subparser._actions:  # noqa: SLF001
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    assert "examples:" in parser.format_help()
    capsys.readouterr()
    with progress.status("not on a terminal: quiet"):
        pass
    assert capsys.readouterr() == ("", "")
    # a user fault is one line, not a traceback
    assert main(["export", "no_such_mart", "--out", str(tmp_path / "x.csv")]) == 1


def test_stata_export_reads_back_with_labels_in_pandas_and_pyreadstat(department, tmp_path):
    import pyreadstat

    _, home, _ = department
    out = tmp_path / "officer_months.dta"
    assert main(["export", "fct_officer_months", "--out", str(out), "--home", str(home.root)]) == 0
    labels = pd.io.stata.StataReader(out).variable_labels()
    # the model's column_descriptions, as SQLMesh wrote them to the warehouse
    assert labels["force_reports"] == "use-of-force reports naming the officer in the month"
    assert labels["block_id"] == "randomization block"
    frame, meta = pyreadstat.read_dta(out)
    assert meta.column_names_to_labels["calls_attended"].startswith("calls for service")
    assert len(frame) == len(pd.read_stata(out)) > 0
    assert str(pd.read_stata(out)["month_start"].dtype).startswith("datetime64")
    encounters = tmp_path / "encounters.dta"
    assert main(["export", "encounters", "--out", str(encounters), "--home", str(home.root)]) == 0
    _, meta = pyreadstat.read_dta(encounters)
    assert meta.column_names_to_labels["empathy"] == "Officer showed empathy (1-5)"  # codebook
    assert meta.column_names_to_labels["is_post"].startswith("after the treatment arm")
    for suffix in ("csv", "parquet"):
        path = tmp_path / f"force.{suffix}"
        assert (
            main(["export", "fct_force_reports", "--out", str(path), "--home", str(home.root)]) == 0
        )
        read = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
        assert {"report_id", "officer_id", "force_level"} <= set(read.columns) and len(read)


def test_exported_officer_month_panel_reproduces_the_reports_primary_force_estimate(
    department, tmp_path
):
    """What docs/exports.md tells R and Stata users to run, with statsmodels."""
    _, home, _ = department
    out = tmp_path / "panel.dta"
    assert main(["export", "officer-months", "--out", str(out), "--home", str(home.root)]) == 0
    panel = pd.read_stata(out)
    assert {"arm", "block_id", "calls_attended", "force_reports", "complaints"} <= set(panel)
    results = json.loads((home.report_dir / "results.json").read_text())
    (reported,) = [
        effect
        for effect in results["primary_effects"]
        if effect["outcome"] == "force_reports" and "per officer-month" in effect["estimator"]
    ]
    post = panel[panel["post"] == 1]
    assert post["officer_id"].nunique() == reported["n_units"]
    # blocks and months without a force report say nothing about the arm (the estimator's rule)
    with_events = post.groupby("block_id")["force_reports"].transform("sum").gt(0) & post.groupby(
        "month"
    )["force_reports"].transform("sum").gt(0)
    post = post[with_events].reset_index(drop=True)
    formula = "force_reports ~ treated_arm + pre_log_rate_force + C(block_id) + C(month)"
    if post["pre_missing_force"].std() > 0:
        formula += " + pre_missing_force"
    groups = pd.factorize(post["officer_id"])[0]
    fit = smf.glm(formula, post, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert math.exp(fit.params["treated_arm"]) == pytest.approx(reported["estimate"], rel=1e-6)
    assert fit.bse["treated_arm"] == pytest.approx(reported["std_error_log_cr1"], rel=1e-4)
    # the report's CR2 standard error, from the same fit
    design = np.asarray(fit.model.exog)
    mu = np.asarray(fit.mu)
    cr2 = cluster_covariance(design, post["force_reports"] - mu, mu, groups, kind="CR2")
    arm = list(fit.model.exog_names).index("treated_arm")
    assert math.sqrt(cr2[arm, arm]) == pytest.approx(reported["std_error_log"], rel=1e-4)


# --------------------------------------------------------------------------------------------
# The analyst's SQLMesh loop on a copy of the project: add a model, plan it into dev, query and
# diff it, promote it with `middlestep build`; SQLMesh's failures as summaries.

NEW_MODEL = """MODEL (
    name marts.mart_force_by_arm,
    kind FULL,
    grain (department_id, arm),
    column_descriptions (
        force_reports = 'force reports of the arm''s officers over the study window'
    ),
    audits (
        not_null(columns := (department_id, arm)),
        unique_combination_of_columns(columns := (department_id, arm)){extra_audit}
    )
);

SELECT
    department_id,
    arm,
    sum(force_reports) AS force_reports{extra_column}
FROM marts.fct_officer_months
WHERE
    NOT arm IS NULL
GROUP BY
    department_id,
    arm
"""


def write_model(project, name="mart_force_by_arm", extra_audit="", extra_column=""):
    text = NEW_MODEL.format(extra_audit=extra_audit, extra_column=extra_column)
    (project / "models" / "marts" / f"{name}.sql").write_text(
        text.replace("marts.mart_force_by_arm", f"marts.{name}")
    )


def write_expectations(project, minimum_force_reports: int) -> None:
    (project / "expectations" / "mart_force_by_arm.yaml").write_text(
        "- expectation: expect_column_values_to_be_between\n"
        f"  kwargs: {{column: force_reports, min_value: {minimum_force_reports}}}\n"
        "  meta: {why: an arm's force reports are counts}\n"
    )


@pytest.fixture()
def analyst(department, tmp_path):
    """A copy of the module's home and of the SQLMesh project, for one analyst's changes."""
    from test_codebook import copy_project

    _, home, _ = department
    shutil.copytree(home.root, tmp_path / "home")
    project = copy_project(tmp_path / "project")
    return tmp_path / "home", project


def sqlmesh(home, project, *arguments: str) -> int:
    return main(["sqlmesh", *arguments, "--home", str(home), "--project", str(project)])


def test_analyst_adds_a_model_plans_it_into_dev_diffs_it_and_promotes_it(analyst, capfd):
    home, project = analyst
    write_model(project)
    assert sqlmesh(home, project, "plan", "dev", "--auto-apply", "--no-prompts") == 0
    capfd.readouterr()
    query = "select arm, force_reports from marts__dev.mart_force_by_arm order by arm"
    assert sqlmesh(home, project, "fetchdf", query) == 0
    fetched = capfd.readouterr().out
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        expected = connection.execute(
            "select arm, sum(force_reports) from marts.fct_officer_months "
            "where arm is not null group by arm order by arm"
        ).fetchall()
        assert "mart_force_by_arm" not in mart_names(connection)  # not in prod yet
    for arm, total in expected:
        assert re.search(rf"{arm}\s+{total}\b", fetched), fetched

    # promote: `middlestep build` plans prod from the same project
    assert main(["build", "--home", str(home), "--project", str(project)]) == 0
    labels_out = home / "mart.dta"
    assert main(["export", "mart_force_by_arm", "--out", str(labels_out), "--home", str(home)]) == 0
    labels = pd.io.stata.StataReader(labels_out).variable_labels()
    assert labels["force_reports"].startswith("force reports of the arm's officers")
    # gated by its own expectations, written beside the models: a failing one fails the gate
    gate = ["check", "--home", str(home), "--project", str(project)]
    write_expectations(project, minimum_force_reports=10**9)
    capfd.readouterr()
    assert main(gate) == 1
    assert "mart_force_by_arm" in capfd.readouterr().out
    write_expectations(project, minimum_force_reports=0)
    assert main(gate) == 0

    # change it: dev shows the difference against prod
    write_model(project, extra_column=",\n    sum(calls_attended) AS calls_attended")
    assert sqlmesh(home, project, "plan", "dev", "--auto-apply", "--no-prompts") == 0
    capfd.readouterr()
    assert sqlmesh(home, project, "table_diff", "prod:dev", "marts.mart_force_by_arm") == 0
    diff = capfd.readouterr().out
    assert "Added Columns" in diff and "calls_attended" in diff
    assert re.search(r"FULL MATCH:\s+2 rows", diff), diff


def test_sqlmesh_waits_for_the_writer_lock(analyst, capfd):
    home, project = analyst
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from middlestep.warehouse import Home, writer_lock\n"
            f"with writer_lock(Home.resolve({str(home)!r})):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert sqlmesh(home, project, "info") == 75
        assert "another middlestep command is using" in capfd.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert sqlmesh(home, project, "info") == 0


def test_a_model_without_audits_fails_the_build_naming_model_and_rule(analyst, capfd):
    home, project = analyst
    (project / "models" / "marts" / "mart_no_audits.sql").write_text(
        "MODEL (\n    name marts.mart_no_audits,\n    kind FULL\n);\n\n"
        "SELECT\n    department_id,\n    count(*) AS officers\nFROM marts.dim_officers\n"
        "GROUP BY\n    department_id\n"
    )
    capfd.readouterr()
    assert main(["build", "--home", str(home), "--project", str(project)]) == 1
    err = capfd.readouterr().err
    assert "model marts.mart_no_audits: nomissingaudits: Model `audits` must be configured" in err
    assert "next: " in err and "Traceback" not in err and len(err.splitlines()) <= 5


def test_a_failed_audit_is_summarized_and_its_sql_shown_only_with_v(analyst, capfd):
    home, project = analyst
    write_model(
        project,
        name="mart_treatment_only",
        extra_audit=",\n        accepted_values(\"column\" := arm, is_in := ('treatment'))",
    )
    capfd.readouterr()
    assert main(["build", "--home", str(home), "--project", str(project)]) == 1
    err = capfd.readouterr().err
    assert (
        "audit accepted_values(column := arm, is_in := ('treatment')) of model "
        "marts.mart_treatment_only: 1 row failed" in err
    )
    assert "e.g. (department_id=synthetic, arm=control)" in err  # the model's grain
    assert "next: " in err and "SELECT" not in err and "Traceback" not in err
    assert main(["-v", "build", "--home", str(home), "--project", str(project)]) == 1
    verbose = capfd.readouterr().err
    assert "1 row failed" in verbose and "SELECT" in verbose and "Traceback" not in verbose


def test_demo_puts_its_warehouse_in_middlestep_home(tmp_path, monkeypatch, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "warehouse.duckdb").touch()  # a home already in use: the demo refuses it
    monkeypatch.setenv("MIDDLESTEP_HOME", str(taken))
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 1
    assert f"{taken} already holds a warehouse" in capsys.readouterr().err
    assert not (tmp_path / "demo" / "home").exists()


def test_panel_needs_no_balanced_flag_and_writes_stata_too(department, tmp_path):
    _, home, _ = department
    stata, csv = tmp_path / "panel.dta", tmp_path / "panel.csv"
    base = ["--department", "synthetic", "--home", str(home.root)]
    assert main(["panel", "--out", str(stata), *base]) == 0
    assert main(["export", "rollout", "--out", str(csv), *base]) == 0
    from_stata, from_csv = pd.read_stata(stata), pd.read_csv(csv)
    assert len(from_stata) == len(from_csv) > 0
    assert list(from_csv.columns)[:3] == ["uid", "month", "period"]
    labels = pd.io.stata.StataReader(stata).variable_labels()
    assert labels["force"] == "force reports in the month"
