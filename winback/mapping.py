"""Mapping expressions: how a column of the contract is made from the columns of a file that is
not in winback's layout (`winback.yml`, `sources: ... mapping:`).

An expression is a small, closed language, compiled here to DuckDB SQL, so that what a project
file says can never become arbitrary SQL:

- a column of the file: `customer_id`, `"Event Name"` (quoted: any name), a nested field
  `properties.distinct_id` or `properties."$insert_id"` (JSON files and Parquet structs);
- literals: `'text'` (quotes doubled inside), numbers `100`, `0.5`, `true`, `false`, `null`;
- operators `+ - * / % ||`, comparisons `= <> != < <= > >=`, `and or not`, `is [not] null`,
  `in (...)`, parentheses;
- the functions in `FUNCTIONS` (e.g. `lower(event)`, `coalesce(user_id, anonymous_id)`,
  `concat(a, '-', b)`, `round(amount / 100, 2)`).

Every column named must exist in the file (CSV, Parquet), and every name is quoted in the SQL;
text literals are re-quoted; anything else is refused with a message naming the expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from winback.sql import quote_identifier, sql_literal

# name -> the DuckDB function it compiles to (same name unless said)
FUNCTIONS = {
    name: name
    for name in (
        "lower",
        "upper",
        "trim",
        "ltrim",
        "rtrim",
        "coalesce",
        "nullif",
        "concat",
        "concat_ws",
        "replace",
        "substr",
        "substring",
        "left",
        "right",
        "length",
        "split_part",
        "regexp_replace",
        "regexp_extract",
        "round",
        "abs",
        "floor",
        "ceil",
        "greatest",
        "least",
        "md5",
        "if",
    )
}
KEYWORDS = {"and", "or", "not", "is", "null", "true", "false", "in"}
OPERATORS = ("||", "<>", "!=", "<=", ">=", "+", "-", "*", "/", "%", "=", "<", ">", "(", ")", ",")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<string>'(?:[^']|'')*')
      | (?P<name>(?:[A-Za-z_$][A-Za-z0-9_$]*|"(?:[^"]|"")+")(?:\.(?:[A-Za-z_$][A-Za-z0-9_$]*|"(?:[^"]|"")+"))*)
      | (?P<op>\|\||<>|!=|<=|>=|[-+*/%=<>(),])
    )""",
    re.VERBOSE,
)


class MappingError(ValueError):
    """An expression or an option of a source that winback cannot use; the message says which."""


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op
    text: str


def tokenize(expression: str) -> list[Token]:
    tokens, position = [], 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise MappingError(
                f"cannot read {expression!r} at {text[position : position + 20]!r}: an expression "
                "is made of column names, 'text', numbers, operators and functions"
            )
        kind = match.lastgroup
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    if not tokens:
        raise MappingError("an expression is empty")
    return tokens


def path_parts(name: str) -> list[str]:
    """`properties."$insert_id"` -> ['properties', '$insert_id']."""
    parts = re.findall(r'"((?:[^"]|"")+)"|([^."]+)', name)
    return [quoted.replace('""', '"') if quoted else bare for quoted, bare in parts]


def compile_expression(expression: str, column: Callable[[list[str]], str]) -> str:
    """The expression as DuckDB SQL; `column` turns a column path into SQL (and refuses a column
    the file does not have)."""
    tokens = tokenize(str(expression))
    out, depth = [], 0
    for i, token in enumerate(tokens):
        following = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if token.kind == "number":
            out.append(token.text)
        elif token.kind == "string":
            out.append(sql_literal(token.text[1:-1].replace("''", "'")))
        elif token.kind == "op":
            depth += token.text == "("
            depth -= token.text == ")"
            if depth < 0:
                raise MappingError(f"unbalanced parentheses in {expression!r}")
            out.append(token.text)
        elif following == "(" and not token.text.startswith('"'):
            name = token.text.lower()
            if name in KEYWORDS and name in ("in", "not", "and", "or"):
                out.append(name)
            elif name in FUNCTIONS:
                out.append(FUNCTIONS[name])
            else:
                raise MappingError(
                    f"unknown function {token.text!r} in {expression!r} (functions: "
                    f"{', '.join(sorted(FUNCTIONS))})"
                )
        elif token.text.lower() in KEYWORDS:
            out.append(token.text.lower())
        else:
            out.append(column(path_parts(token.text)))
    if depth:
        raise MappingError(f"unbalanced parentheses in {expression!r}")
    return "(" + " ".join(out) + ")"


def table_columns(alias: str, columns: Collection[str]) -> Callable[[list[str]], str]:
    """Column references for a CSV or Parquet file: the header's names, matched without regard
    to case; a dotted name is a field of a Parquet struct."""
    by_lower = {c.strip().lower(): c for c in columns}

    def column(parts: list[str]) -> str:
        first = by_lower.get(parts[0].strip().lower())
        if first is None:
            shown = ", ".join(list(columns)[:30])
            raise MappingError(f"no column {parts[0]!r} in the file (its columns: {shown})")
        return ".".join([alias, quote_identifier(first), *(quote_identifier(p) for p in parts[1:])])

    return column


def json_paths(alias: str, document: str = "json") -> Callable[[list[str]], str]:
    """Column references for JSON files: a path into each line's object, as text (an object or
    a list stays JSON text). A key absent from a line is null."""

    def column(parts: list[str]) -> str:
        path = "$." + ".".join(
            '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts
        )
        return f"json_extract_string({alias}.{quote_identifier(document)}, {sql_literal(path)})"

    return column
