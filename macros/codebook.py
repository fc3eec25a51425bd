"""Macros generated from the SSO codebook (seeds/sso_codebook.csv), the one list of SSO items.

The models name no item: they select ``@sso_items()``, audit ``@sso_item_ranges()``, and build the
consensus and the per-item rows from the codebook's kinds. The CSV is read when SQLMesh loads the
project, so each model's Python environment holds the items it was built with, and a changed
codebook changes the fingerprints of the models that use it.
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp
from sqlmesh import macro

from middlestep.codebook import read_codebook

PROJECT = Path(__file__).resolve().parent.parent
# this project's codebook (a copy of the project reads its own)
CODEBOOK_CSV = PROJECT / "seeds" / "sso_codebook.csv"


def _drop_models_cached_before(changed_at: float, cache: Path) -> None:
    """SQLMesh caches loaded models (``.cache/model_definition``) keyed on the times of the model,
    macro and config files, not of this CSV: a model cached before the codebook changed would keep
    its old items. Drop those entries; SQLMesh loads the models again (macros load first)."""
    definitions = cache / "model_definition"
    if definitions.is_dir():
        for entry in definitions.iterdir():
            try:
                if entry.stat().st_mtime < changed_at:
                    entry.unlink(missing_ok=True)
            except FileNotFoundError:  # another SQLMesh process renamed its temporary file
                continue


_drop_models_cached_before(CODEBOOK_CSV.stat().st_mtime, PROJECT / ".cache")

# (item, kind, min_value, max_value), in the codebook's order: plain values, because SQLMesh
# stores the globals a macro uses in the Python environment of each model that calls it
SSO_CODEBOOK = tuple(
    (item.name, item.kind, item.min_value, item.max_value) for item in read_codebook(CODEBOOK_CSV)
)

# the consensus of a video's codings: ratings average all codings; binary items and counts take
# the primary coding's value (a mean of 0/1 codes or of counts is not a code)
MEAN_KINDS = ("rating",)


def _table(table: exp.Expression | None) -> str | None:
    return table.name if table is not None else None


@macro()
def sso_items(evaluator, table=None):
    """The item columns in codebook order, qualified by ``table`` if given."""
    return [exp.column(item, table=_table(table)) for item, *_ in SSO_CODEBOOK]


@macro()
def sso_item_ranges(evaluator):
    """``item BETWEEN min_value AND max_value`` for every item: the criteria of a range audit."""
    return exp.Tuple(
        expressions=[exp.column(item).between(low, high) for item, _, low, high in SSO_CODEBOOK]
    )


@macro()
def sso_consensus(evaluator, rank):
    """Each item's consensus over a video's codings (the group): the mean of a rating, else the
    value of the coding whose ``rank`` is 1."""
    primary = exp.EQ(this=rank.copy(), expression=exp.Literal.number(1))
    return [
        exp.alias_(
            exp.Avg(this=exp.cast(exp.column(item), exp.DataType.Type.DOUBLE))
            if kind in MEAN_KINDS
            else exp.Filter(
                this=exp.Max(this=exp.column(item)),
                expression=exp.Where(this=primary.copy()),
            ),
            item,
        )
        for item, kind, *_ in SSO_CODEBOOK
    ]


@macro()
def sso_consensus_values(evaluator, table):
    """The consensus columns of ``table`` in their mart types: DOUBLE for a mean, else INT."""
    return [
        exp.alias_(
            exp.cast(
                exp.column(item, table=_table(table)),
                exp.DataType.Type.DOUBLE if kind in MEAN_KINDS else exp.DataType.Type.INT,
            ),
            item,
        )
        for item, kind, *_ in SSO_CODEBOOK
    ]


@macro()
def sso_item_value(evaluator, table, item_column):
    """The value of the item named in ``item_column`` from ``table``'s item columns: one row per
    item and coding from one row per coding (a portable UNPIVOT)."""
    return exp.Case(
        this=item_column.copy(),
        ifs=[
            exp.If(this=exp.Literal.string(item), true=exp.column(item, table=_table(table)))
            for item, *_ in SSO_CODEBOOK
        ],
    )
