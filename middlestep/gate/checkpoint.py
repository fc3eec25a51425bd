"""The Great Expectations checkpoint: one ephemeral context, one validation definition per mart
or derived frame. Great Expectations is imported inside :func:`run_checkpoint`: it takes
seconds to import, and a night that changed no mart does not need it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from middlestep.gate.results import CheckResult
from middlestep.gate.specs import WARNING, ExpectationSpec, camel_case
from middlestep.jsonable import jsonable


def run_checkpoint(
    runnable: Mapping[str, list[tuple[int, ExpectationSpec]]],
    frames: Mapping[str, pd.DataFrame],
    data_docs_dir: Path | None = None,
) -> dict[int, CheckResult]:
    """One checkpoint, one validation definition per target frame; results by spec index.
    With `data_docs_dir`, Great Expectations' Data Docs of this run are written there.

    A pandas dataframe asset takes its frame from the checkpoint's batch parameters, which are
    shared by every validation definition of a checkpoint; so each frame is written to a
    parquet file in a private temporary directory and read by its own parquet asset.
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
    data_source = context.data_sources.add_pandas("middlestep_marts")
    results: dict[int, CheckResult] = {}
    with tempfile.TemporaryDirectory(prefix="middlestep-gate-") as tmp:
        validation_definitions = []
        for target, indexed_specs in runnable.items():
            path = Path(tmp) / f"{target}.parquet"
            _parquet_safe(frames[target]).to_parquet(path, index=False)
            asset = data_source.add_parquet_asset(name=target, path=path)
            batch_definition = asset.add_batch_definition_whole_dataframe(target)
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


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns pyarrow cannot write (DuckDB decimals, mixed objects) as floats or text."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype != object:
            continue
        values = column.dropna()
        if values.empty:
            continue
        if all(isinstance(value, Decimal) for value in values):
            out[name] = column.map(lambda value: None if value is None else float(value))
        elif len({type(value) for value in values}) > 1:
            out[name] = column.map(lambda value: None if value is None else str(value))
    return out


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
