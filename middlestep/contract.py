"""The canonical raw contract: the tables ingest loads into schema ``raw``.

Every department's export is mapped onto these tables by ``departments/NAME.yaml``. The
contract fixes each field's type, whether it is required and which codes it accepts; ingest
rejects a row that breaks it and says which field and why. SQLMesh's external model schemas
(``external_models.yaml``) are written from this module, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from middlestep.codebook import ITEMS as SSO_CODEBOOK
from middlestep.codebook import Item, item_kinds

# Field types: the DuckDB type each canonical field is stored as.
TEXT, INTEGER, DOUBLE, BOOLEAN, DATE, TIMESTAMP = (
    "TEXT",
    "INTEGER",
    "DOUBLE",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP",
)


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = False
    codes: tuple | None = None  # accepted values after the mapping's value map
    minimum: float | None = None
    maximum: float | None = None
    is_civilian_identifier: bool = False  # stored only as a keyed hash
    # optional in the contract, but a mapping that maps it must give every row a valid value
    # (a blank arm would silently take a randomized officer out of the ITT arms)
    required_when_mapped: bool = False
    # what a NULL means when the export does not know the value: a mapping may then declare the
    # field unknown (`{unknown: true}`, or `allow_unknown: true` for a column with empty cells)
    # instead of inventing one; the models read the NULL as this sentence says
    unknown_means: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    # the grain, without department_id; an optional key field may be NULL (NULLs compare equal)
    key: tuple[str, ...]
    fields: tuple[Field, ...] = field(default_factory=tuple)
    # a bad optional cell nulls that cell (with a warning) instead of rejecting the row: for the
    # roster, which every other table is checked against (a rejected officer would take all of
    # their rows with them)
    keeps_rows_with_bad_optional: bool = False

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"table {self.name} has no field {name}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


# Columns ingest adds to every raw table: which batch (file) and which line a row came from.
BATCH_COLUMNS: tuple[Field, ...] = (
    Field("_batch_id", INTEGER, required=True),
    Field("_source_line", INTEGER, required=True),
)

UNKNOWN_APPOINTMENT = (
    "the export does not give the appointment date: the officer counts as active from the first "
    "to the last month of their records (the roster's first/last seen dates, force reports, "
    "complaints, calls and videos), or to their separation date where it is known"
)
SEXES = ("female", "male", "other", "unknown")
RACES = ("asian", "black", "hispanic", "white", "other", "unknown")
ARMS = ("treatment", "control")
CALL_ROLES = ("primary", "backup")
FORCE_TYPES = (
    "verbal_command",
    "presence",
    "hands_on",
    "takedown",
    "strike",
    "chemical_agent",
    "conducted_energy_device",
    "impact_weapon",
    "canine",
    "firearm",
    "other",
)
RESISTANCE_LEVELS = ("none", "passive", "active", "aggressive", "deadly")
FINDINGS = ("sustained", "not_sustained", "unfounded", "exonerated", "pending", "other")

# The SSO items, from the codebook seed (middlestep/codebook.py): item -> kind, in codebook order.
SSO_ITEMS: dict[str, str] = item_kinds(SSO_CODEBOOK)


def _sso_item_field(item: Item) -> Field:
    # a binary item is a code (0 or 1); a count or a rating is a number within its range
    if item.kind == "binary":
        return Field(item.name, INTEGER, codes=tuple(range(item.min_value, item.max_value + 1)))
    return Field(item.name, INTEGER, minimum=item.min_value, maximum=item.max_value)


RAW_TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "officers",
            key=("officer_id",),
            keeps_rows_with_bad_optional=True,
            fields=(
                Field("officer_id", TEXT, required=True),
                Field("appointed_on", DATE, required=True, unknown_means=UNKNOWN_APPOINTMENT),
                Field("separated_on", DATE),
                Field("birth_year", INTEGER, minimum=1900, maximum=2015),
                Field("sex", TEXT, codes=SEXES),
                Field("race", TEXT, codes=RACES),
                Field("rank", TEXT),
                Field("unit", TEXT),
                # the first and last date the export shows the officer (a roster derived from
                # an event file): with an unknown appointment, the officer's active span
                Field("first_seen_on", DATE),
                Field("last_seen_on", DATE),
            ),
        ),
        Table(
            # officer x unit assignment: which unit an officer served in, from when to when.
            # A snapshot (the unit on one date, e.g. at training) maps both dates to that date.
            "officer_units",
            key=("officer_id", "started_on"),
            fields=(
                Field("officer_id", TEXT, required=True),
                Field("unit_id", TEXT, required=True),
                Field("unit_type", TEXT),  # the department's kind of unit (district, special, ...)
                Field("unit_name", TEXT),
                Field("started_on", DATE, required=True),
                Field("ended_on", DATE),
            ),
        ),
        Table(
            "trial_assignments",
            key=("trial_id", "officer_id"),
            fields=(
                Field("trial_id", TEXT, required=True),
                Field("officer_id", TEXT, required=True),
                Field("block_id", TEXT),
                Field("arm", TEXT, codes=ARMS, required_when_mapped=True),
                # the date the officer is scheduled to be trained (the roll-out cohort)
                Field("cohort_on", DATE),
                # the date the assignment was made (randomization or roll-out schedule)
                Field("assigned_on", DATE, required=True),
            ),
        ),
        Table(
            "training_events",
            key=("officer_id", "session_id"),
            fields=(
                Field("officer_id", TEXT, required=True),
                Field("session_id", TEXT, required=True),
                Field("curriculum", TEXT),
                Field("attended_on", DATE, required=True),
                Field("is_completed", BOOLEAN),
                Field("hours", DOUBLE, minimum=0, maximum=200),
            ),
        ),
        Table(
            "calls",
            key=("call_id",),
            fields=(
                Field("call_id", TEXT, required=True),
                Field("received_at", TIMESTAMP, required=True),
                Field("dispatched_at", TIMESTAMP),
                Field("arrived_at", TIMESTAMP),
                Field("cleared_at", TIMESTAMP),
                Field("call_type", TEXT),
                Field("priority", INTEGER, minimum=1, maximum=9),
                Field("is_self_initiated", BOOLEAN),
                Field("beat", TEXT),
                Field("disposition", TEXT),
            ),
        ),
        Table(
            "call_officers",
            key=("call_id", "officer_id"),
            fields=(
                Field("call_id", TEXT, required=True),
                Field("officer_id", TEXT, required=True),
                Field("role", TEXT, codes=CALL_ROLES),
                Field("arrived_at", TIMESTAMP),
                Field("cleared_at", TIMESTAMP),
            ),
        ),
        Table(
            "bwc_videos",
            key=("video_id",),
            fields=(
                Field("video_id", TEXT, required=True),
                Field("officer_id", TEXT, required=True),
                Field("call_id", TEXT),
                Field("started_at", TIMESTAMP, required=True),
                Field("duration_s", DOUBLE, minimum=0, maximum=86400),
                Field("is_sampled_for_coding", BOOLEAN),
                Field("sampling_stratum", TEXT),
            ),
        ),
        Table(
            "sso_codings",
            key=("coding_id",),
            fields=(
                Field("coding_id", TEXT, required=True),
                Field("video_id", TEXT, required=True),
                Field("coder_id", TEXT, required=True),
                Field("coded_at", TIMESTAMP),
                Field("codebook_version", TEXT),
                *(_sso_item_field(item) for item in SSO_CODEBOOK),
            ),
        ),
        Table(
            "force_reports",
            key=("report_id", "officer_id"),
            fields=(
                Field("report_id", TEXT, required=True),
                Field("officer_id", TEXT, required=True),
                Field("occurred_at", TIMESTAMP, required=True),
                Field("call_id", TEXT),
                Field("force_type", TEXT, codes=FORCE_TYPES),
                # the department's own classification of the force, kept as exported (for a
                # department whose categories do not map onto FORCE_TYPES one to one)
                Field("force_category", TEXT),
                Field("force_level", INTEGER, codes=(1, 2, 3)),
                Field("subject_resistance", TEXT, codes=RESISTANCE_LEVELS),
                Field("is_subject_injured", BOOLEAN),
                Field("is_officer_injured", BOOLEAN),
                Field("subject_key", TEXT, is_civilian_identifier=True),
                # civilians subject to this officer's force in the report (an export with one
                # row per subject, aggregated to one report per incident x officer)
                Field("subject_count", INTEGER, minimum=0),
            ),
        ),
        Table(
            "complaints",
            # record_id tells apart rows of one complaint x officer (an allegation, or a record
            # of another release with its own date or finding); NULL when the export has one row
            key=("complaint_id", "officer_id", "record_id"),
            fields=(
                Field("complaint_id", TEXT, required=True),
                Field("officer_id", TEXT, required=True),
                Field("record_id", TEXT),
                Field("occurred_at", TIMESTAMP, required=True),
                Field("received_at", TIMESTAMP),
                Field("allegation", TEXT),
                Field("finding", TEXT, codes=FINDINGS),
                Field("is_sustained", BOOLEAN),
            ),
        ),
    )
}


def columns_with_types(table: Table) -> dict[str, str]:
    """The stored columns of a raw table, in order: department, contract fields, batch columns."""
    columns = {"department_id": TEXT}
    columns.update({f.name: f.type for f in table.fields})
    columns.update({f.name: f.type for f in BATCH_COLUMNS})
    return columns
