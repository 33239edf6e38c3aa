"""The two ways a value from outside reaches SQL text where no bound parameter can go (file
paths in readers, ATTACH, COPY, column names of a user's file): quoted, never pasted."""

from __future__ import annotations


def sql_literal(value: str) -> str:
    """A text value as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def quote_identifier(identifier: str) -> str:
    """A name (a column of a user's file) as a quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'
