"""The Great Expectations checkpoint: one ephemeral context, one validation definition per mart
or derived frame. Great Expectations is imported inside :func:`run_checkpoint`: it takes
seconds to import, and a night that changed no mart does not need it.

The expectations run where the data is: a SQL data source on the warehouse file (read-only,
through ``middlestep.warehouse.sql_engine``) with one query asset per target, so each
expectation is a query inside DuckDB and a mart of millions of rows is never held in memory.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from middlestep.gate.results import CheckResult
from middlestep.gate.specs import WARNING, ExpectationSpec, camel_case
from middlestep.jsonable import jsonable
from middlestep.warehouse.sql_engine import gx_sql_connection


def run_checkpoint(
    runnable: Mapping[str, list[tuple[int, ExpectationSpec]]],
    queries: Mapping[str, str],
    warehouse: Path,
    data_docs_dir: Path | None = None,
) -> dict[int, CheckResult]:
    """One checkpoint, one validation definition per target; results by spec index.
    With `data_docs_dir`, Great Expectations' Data Docs of this run are written there.

    `queries` maps each target (a mart or a derived frame) to the query of its rows
    (gate/facts.py, gate/frames.py), run on `warehouse` through one read-only SQL data source.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
        data_docs_sites=data_docs_sites(data_docs_dir),
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    connection_string, engine_kwargs = gx_sql_connection(warehouse)
    data_source = context.data_sources.add_sql(
        "middlestep_marts", connection_string=connection_string, kwargs=engine_kwargs
    )
    results: dict[int, CheckResult] = {}
    try:
        validation_definitions = []
        for target, indexed_specs in runnable.items():
            asset = data_source.add_query_asset(name=target, query=queries[target])
            batch_definition = asset.add_batch_definition_whole_table(target)
            suite = gx.ExpectationSuite(name=target)
            for index, spec in indexed_specs:
                suite.add_expectation(_build_expectation(spec, index))
            suite = context.suites.add(suite)
            validation_definitions.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(name=target, data=batch_definition, suite=suite)
                )
            )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name="middlestep_gate",
                validation_definitions=validation_definitions,
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        checkpoint_result = checkpoint.run()
        if data_docs_dir is not None:
            build_data_docs(context, data_docs_dir)
    finally:
        # close the pooled DuckDB connections now: the gate's record is written to the same
        # file next, and DuckDB refuses a writer while this process still has it open
        data_source.get_execution_engine().engine.dispose()
        data_source.get_engine().dispose()

    specs_by_index = {index: spec for specs in runnable.values() for index, spec in specs}
    for validation_result in checkpoint_result.run_results.values():
        for expectation_result in validation_result.results:
            meta = expectation_result.expectation_config.meta or {}
            index = int(meta["gate_index"])
            results[index] = _check_from_ge(specs_by_index[index], expectation_result)
    for index, spec in specs_by_index.items():  # defensive: every spec gets a result
        if index not in results:
            results[index] = CheckResult(
                mart=spec.target,
                expectation=spec.expectation,
                success=False,
                column=spec.column,
                kwargs=spec.kwargs,
                severity=spec.severity,
                observed="Great Expectations returned no result",
                why=spec.why,
            )
    return results


DATA_DOCS_SITE = "middlestep_gate"


def data_docs_sites(directory: Path | None) -> dict[str, Any]:
    """The one local Data Docs site of the gate (none without a directory)."""
    if directory is None:
        return {}
    return {
        DATA_DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(directory),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }


def build_data_docs(context: Any, directory: Path) -> Path:
    """Data Docs of this checkpoint run only: the stores are in memory, so an older run's pages
    would sit in the index beside this one's without their expectations; they are removed."""
    shutil.rmtree(directory, ignore_errors=True)
    context.build_data_docs(site_names=[DATA_DOCS_SITE])
    return Path(directory) / "index.html"


def _build_expectation(spec: ExpectationSpec, index: int):
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    class_name = camel_case(spec.expectation)
    expectation_class = getattr(gxe, class_name, None)
    if expectation_class is None:
        raise ValueError(f"{spec.mart}: unknown Great Expectations expectation {class_name}")
    return expectation_class(
        **dict(spec.kwargs),
        meta={"why": spec.why, "gate_index": index},
        severity=FailureSeverity.WARNING if spec.severity == WARNING else FailureSeverity.CRITICAL,
    )


def _check_from_ge(spec: ExpectationSpec, expectation_result: Any) -> CheckResult:
    result = dict(expectation_result.result or {})
    exception = dict(expectation_result.exception_info or {})
    observed: Any = result.get("observed_value")
    if exception.get("raised_exception"):
        message = str(exception.get("exception_message") or "error").splitlines()[0]
        observed = f"could not be evaluated: {message}"
    column = spec.column
    if spec.expectation == "expect_table_columns_to_match_set" and not exception.get(
        "raised_exception"
    ):
        missing = (result.get("details") or {}).get("mismatched", {}).get("missing") or []
        observed = f"missing columns: {', '.join(missing)}" if missing else "all columns present"
        column = ", ".join(missing) or None
    unexpected = result.get("unexpected_count")
    sample = tuple(jsonable(value) for value in (result.get("partial_unexpected_list") or []))
    return CheckResult(
        mart=spec.target,
        expectation=spec.expectation,
        success=bool(expectation_result.success),
        column=column,
        kwargs=spec.kwargs,
        severity=spec.severity,
        observed=jsonable(observed),
        unexpected_count=None if unexpected is None else int(unexpected),
        element_count=None if unexpected is None else _int_or_none(result.get("element_count")),
        unexpected_sample=sample,
        why=spec.why,
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
