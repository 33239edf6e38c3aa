"""The input contract: which files winback reads, their columns and the rules each row must pass.

This module is the single place the rules live. `winback.ingest` compiles them to DuckDB SQL
(row-level rules that send rows to quarantine), `winback.expectations` compiles them to Great
Expectations suites (batch-level checks on what was loaded), and `docs/data-contract.md`
describes them for people. Change a rule here and every consumer follows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["text", "timestamp", "decimal", "boolean", "json_object"]

MESSAGE_CHANNELS = ("email", "sms", "push", "in_app", "ads")
MESSAGE_EVENTS = (
    "sent",
    "delivered",
    "open",
    "click",
    "bounce_hard",
    "bounce_soft",
    "unsubscribe",
    "complaint",
)
SURVEY_REASONS = (
    "complexity",
    "missing_feature",
    "price",
    "competitor",
    "no_longer_needed",
    "technical_issue",
    "other",
)
BILLING_EVENTS = ("payment_succeeded", "payment_failed", "plan_changed", "cancelled")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "text"
    required: bool = False  # the column must be present in the file
    not_null: bool = False  # every row needs a value (checked only when the column exists)
    accepted_values: tuple[str, ...] | None = None
    normalise: bool = False  # trim + lower case before any rule or dedupe
    # timestamps only: bounded below by the configured earliest date and above by now + 1 day
    bounded: bool = False


@dataclass(frozen=True)
class FileKind:
    name: str
    columns: tuple[Column, ...]
    # Rows sharing these (normalised) values are duplicates; the first in file order is kept.
    # `None` means "the whole row" (exact duplicates).
    dedupe_key: tuple[str, ...] | None
    # The column whose UTC date says which days a file touches (for incremental rebuilds).
    date_column: str
    description: str = ""
    # When the id column is absent, a deterministic hash of these columns stands in.
    hashed_id: tuple[str, tuple[str, ...]] | None = None
    optional: bool = True

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


EVENTS = FileKind(
    name="events",
    description="Product events: one row per thing a user did.",
    columns=(
        Column("event_id"),
        Column("user_id", required=True, not_null=True),
        Column("event_name", required=True, not_null=True, normalise=True),
        Column("occurred_at", "timestamp", required=True, not_null=True, bounded=True),
        Column("properties", "json_object"),
        Column("revenue", "decimal"),
        Column("platform", normalise=True),
    ),
    dedupe_key=("event_id",),
    date_column="occurred_at",
    hashed_id=(
        "event_id",
        ("user_id", "event_name", "occurred_at", "properties", "revenue", "platform"),
    ),
    optional=False,
)

USERS = FileKind(
    name="users",
    description="User profiles: one row per user (a later row for the same user wins).",
    columns=(
        Column("user_id", required=True, not_null=True),
        Column("signup_at", "timestamp", bounded=True),
        Column("email"),
        Column("plan", normalise=True),
        Column("country"),
        Column("acquisition_channel", normalise=True),
        Column("email_opt_in", "boolean"),
        Column("sms_opt_in", "boolean"),
    ),
    dedupe_key=None,
    date_column="signup_at",
)

MESSAGES = FileKind(
    name="messages",
    description="CRM / ESP delivery log: one row per message event.",
    columns=(
        Column("message_id", required=True, not_null=True),
        Column("campaign_id"),
        Column("user_id", required=True, not_null=True),
        Column(
            "channel",
            required=True,
            not_null=True,
            accepted_values=MESSAGE_CHANNELS,
            normalise=True,
        ),
        Column(
            "message_event",
            required=True,
            not_null=True,
            accepted_values=MESSAGE_EVENTS,
            normalise=True,
        ),
        Column("occurred_at", "timestamp", required=True, not_null=True, bounded=True),
    ),
    dedupe_key=("message_id", "message_event", "occurred_at"),
    date_column="occurred_at",
)

SURVEY_RESPONSES = FileKind(
    name="survey_responses",
    description="Answers to win-back / satisfaction surveys.",
    columns=(
        Column("user_id", required=True, not_null=True),
        Column("submitted_at", "timestamp", required=True, not_null=True, bounded=True),
        Column(
            "reason_code",
            required=True,
            not_null=True,
            accepted_values=SURVEY_REASONS,
            normalise=True,
        ),
        Column("comment"),
    ),
    dedupe_key=("user_id", "submitted_at"),
    date_column="submitted_at",
)

BILLING = FileKind(
    name="billing",
    description="Billing events: payments, plan changes, cancellations.",
    columns=(
        Column("user_id", required=True, not_null=True),
        Column("occurred_at", "timestamp", required=True, not_null=True, bounded=True),
        Column(
            "billing_event",
            required=True,
            not_null=True,
            accepted_values=BILLING_EVENTS,
            normalise=True,
        ),
        Column("amount", "decimal"),
        Column("plan", normalise=True),
    ),
    dedupe_key=("user_id", "occurred_at", "billing_event"),
    date_column="occurred_at",
)

FILE_KINDS: dict[str, FileKind] = {
    k.name: k for k in (EVENTS, USERS, MESSAGES, SURVEY_RESPONSES, BILLING)
}
FILE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Rule:
    """One row rule; `name` is what the quarantine table and error messages show."""

    name: str
    column: str | None  # None: the rule is about the whole row
    description: str


# Timestamps: ISO 8601 extended format / RFC 3339, case-insensitive. A date, or a date and a
# time (`T`, `t` or a space between them) with optional seconds and fraction, then optionally
# `Z`/`z`, ` UTC` (BigQuery's text form) or a UTC offset `±HH`, `±HHMM` or `±HH:MM` (no offset =
# UTC); spaces around are ignored. Offsets beyond ±14:00 (the widest in use) and minutes over 59
# are not timestamps; the calendar (month 13, 30 February, hour 25...) is checked when the text
# is converted.
_DATE_TIME = r"\s*\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z| utc|{offset})?)?\s*"
_VALID_OFFSET = r"[+-](?:(?:0\d|1[0-3])(?::?[0-5]\d)?|14(?::?00)?)"
TIMESTAMP_PATTERN = "(?i)" + _DATE_TIME.replace("{offset}", _VALID_OFFSET)
# the same shape with any two-digit offset: what matches this but not the pattern above has an
# offset out of range (said so in the quarantine's reason)
ANY_OFFSET_TIMESTAMP_PATTERN = "(?i)" + _DATE_TIME.replace("{offset}", r"[+-]\d{2}(?::?\d{2})?")
OFFSET_REASON = "{column} has an invalid UTC offset {offset} (±HH:MM, at most ±14:00)"

# CSV rows that cannot be split into the header's fields. They are quarantined under this rule
# (before every other rule, which needs the fields), with one of the reasons below and the line
# as it is in the file, cut to QUARANTINED_LINE_CHARS characters.
MAX_LINE_BYTES = 2_000_000
QUARANTINED_LINE_CHARS = 1_000
ROW_MALFORMED = Rule(
    "row_malformed",
    None,
    "a CSV row must have as many fields as the header, well-formed quotes, UTF-8 text and at "
    f"most {MAX_LINE_BYTES:,} bytes",
)
MALFORMED_REASONS = {
    "field_count": "expected {expected} fields, found {found}",
    "quoting": "unparsable quoting: a quoted field is not closed, or text follows its closing quote",
    "line_too_long": "line of {size} bytes, longer than the maximum of {limit} bytes",
    "encoding": "not valid UTF-8",
    "unparsable": "cannot be parsed as CSV: {error}",
}


def row_rules(kind: FileKind, present: set[str]) -> list[Rule]:
    """The row rules that apply to a file of `kind` with the columns `present`, in check order.

    A row is quarantined under the first rule it fails.
    """
    rules: list[Rule] = []
    for c in kind.columns:
        if c.name not in present:
            continue
        if c.not_null:
            rules.append(Rule(f"{c.name}_not_null", c.name, f"{c.name} must have a value"))
        if c.type == "timestamp":
            rules.append(
                Rule(
                    f"{c.name}_is_timestamp",
                    c.name,
                    f"{c.name} must be an ISO-8601 / RFC 3339 timestamp (a date, or a date and "
                    "time; Z or an offset within ±14:00, or none for UTC)",
                )
            )
            if c.bounded:
                rules.append(
                    Rule(
                        f"{c.name}_not_before_earliest",
                        c.name,
                        f"{c.name} must not be before the earliest allowed date",
                    )
                )
                rules.append(
                    Rule(
                        f"{c.name}_not_in_future",
                        c.name,
                        f"{c.name} must not be later than the clock + 1 day",
                    )
                )
        elif c.type == "decimal":
            rules.append(Rule(f"{c.name}_is_number", c.name, f"{c.name} must be a number"))
        elif c.type == "boolean":
            rules.append(
                Rule(f"{c.name}_is_boolean", c.name, f"{c.name} must be true/false (or 1/0)")
            )
        elif c.type == "json_object":
            rules.append(
                Rule(f"{c.name}_is_json_object", c.name, f"{c.name} must be a JSON object")
            )
        if c.accepted_values:
            rules.append(
                Rule(
                    f"{c.name}_accepted_values",
                    c.name,
                    f"{c.name} must be one of {', '.join(c.accepted_values)}",
                )
            )
    return rules


def kind_for_path(relative_path: str) -> FileKind | None:
    """The file kind of a landing file: its folder (`events/2024-01.csv`) or its name prefix
    (`events_2024-01.csv`, `users.csv`)."""
    parts = relative_path.replace("\\", "/").split("/")
    if len(parts) > 1 and parts[0] in FILE_KINDS:
        return FILE_KINDS[parts[0]]
    stem = parts[-1].split(".")[0].lower()
    # longest name first, so "survey_responses_x" is not read as something shorter
    for name in sorted(FILE_KINDS, key=len, reverse=True):
        if stem == name or stem.startswith(name + "_") or stem.startswith(name + "-"):
            return FILE_KINDS[name]
    return None


def format_for_path(path: str) -> str | None:
    lower = path.lower()
    for suffix, fmt in FILE_FORMATS.items():
        if lower.endswith(suffix) or lower.endswith(suffix + ".gz"):
            return fmt
    return None


@dataclass(frozen=True)
class ValidationSettings:
    """The dates the row rules compare timestamps with."""

    earliest: dt.date = dt.date(1990, 1, 1)
    # "now" for the not-in-future rule; the one place the wall clock is read (see settings.py)
    now: dt.datetime | None = None

    @property
    def latest(self) -> dt.datetime:
        now = self.now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return now + dt.timedelta(days=1)
