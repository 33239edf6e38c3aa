"""Mapping expressions: how a column of the contract is made from the columns of a file that is
not in winback's layout (`winback.yml`, `sources: ... mapping:`).

An expression is a small, closed language, compiled here to DuckDB SQL, so that what a project
file says can never become arbitrary SQL:

- a column of the file: `customer_id`, `"Event Name"` (quoted: any name), a nested field
  `properties.distinct_id` or `properties."$insert_id"` (a key of a JSON file's object, of a
  CSV column holding JSON text, or of a Parquet struct or map); a nested value that is an
  object or a list is its JSON text;
- literals: `'text'` (quotes doubled inside), numbers `100`, `0.5`, `true`, `false`, `null`;
- operators `+ - * / % ||`, comparisons `= <> != < <= > >=`, `and or not`, `is [not] null`,
  `in (...)`, parentheses;
- the functions in `FUNCTIONS` (e.g. `lower(event)`, `coalesce(user_id, anonymous_id)`,
  `concat(a, '-', b)`, `json_object('plan', plan, 'seats', number(seats))`) and `number(x)`,
  the value as a number (null when it is not one). A file's values are text: a column that is
  an operand of `+ - * / %` is read as a number by itself (`amount / 100`,
  `price * quantity`); `number(x)` says so elsewhere (`json_object('seats', number(seats))`).

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
        "json_object",
    )
}
# name -> the type it casts to: `number(x)` compiles to `try_cast(x as double)`
CASTS = {"number": "double"}
ARITHMETIC = {"+", "-", "*", "/", "%"}
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


def compile_expression(
    expression: str, column: Callable[[list[str]], str], keep_bad_numbers: bool = False
) -> str:
    """The expression as DuckDB SQL; `column` turns a column path into SQL (and refuses a column
    the file does not have)."""
    tokens = tokenize(str(expression))
    out: list[str] = []
    operands: list[str] = []  # columns read as numbers
    closers: list[str] = []  # what each open parenthesis closes with
    cast_to = None  # the type of a cast function whose parenthesis comes next
    for i, token in enumerate(tokens):
        following = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if token.kind == "number":
            out.append(token.text)
        elif token.kind == "string":
            out.append(sql_literal(token.text[1:-1].replace("''", "'")))
        elif token.kind == "op":
            if token.text == "(":
                closers.append(f" as {cast_to})" if cast_to else ")")
                cast_to = None
                out.append("(")
            elif token.text == ")":
                if not closers:
                    raise MappingError(f"unbalanced parentheses in {expression!r}")
                out.append(closers.pop())
            elif token.text == "," and closers and closers[-1] != ")":
                raise MappingError(f"number() takes one value, in {expression!r}")
            else:
                out.append(token.text)
        elif following == "(" and not token.text.startswith('"'):
            name = token.text.lower()
            if name in KEYWORDS and name in ("in", "not", "and", "or"):
                out.append(name)
            elif name in CASTS:
                out.append("try_cast")
                cast_to = CASTS[name]
            elif name in FUNCTIONS:
                out.append(FUNCTIONS[name])
            else:
                raise MappingError(
                    f"unknown function {token.text!r} in {expression!r} (functions: "
                    f"{', '.join(sorted([*FUNCTIONS, *CASTS]))})"
                )
        elif token.text.lower() in KEYWORDS:
            out.append(token.text.lower())
        else:
            sql = column(path_parts(token.text))
            previous = tokens[i - 1].text if i else ""
            if previous in ARITHMETIC or following in ARITHMETIC:
                # a file's values are text: an operand of arithmetic is read as a number, so
                # `amount / 100` works as written
                operands.append(sql)
                sql = f"try_cast({sql} as double)"
            out.append(sql)
    if closers:
        raise MappingError(f"unbalanced parentheses in {expression!r}")
    sql = "(" + " ".join(out) + ")"
    if keep_bad_numbers and operands:
        # an operand that has a value but not a number gives that value instead of a null, so
        # the contract's rule quarantines the row with it (`revenue_is_number`, value 'abc')
        text = [f"nullif(trim(cast({c} as varchar)), '')" for c in dict.fromkeys(operands)]
        bad = [f"case when try_cast({t} as double) is null then {t} end" for t in text]
        guard = " and ".join(f"coalesce({b}, '') = ''" for b in bad)
        sql = f"(case when {guard} then cast({sql} as varchar) else coalesce({', '.join(bad)}) end)"
    return sql


def json_path(parts: list[str]) -> str:
    """`['properties', '$insert_id']` -> `$."properties"."$insert_id"` (every key quoted)."""
    return "$." + ".".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


def table_columns(
    alias: str, columns: Collection[str], missing: list[str] | None = None
) -> Callable[[list[str]], str]:
    """Column references for a CSV or Parquet file: the header's names, matched without regard
    to case; a dotted name is a key inside the column (JSON text, a Parquet struct or map).

    With `missing` (a preset's mapping: the exporter's field names, not all of which every
    loader keeps), a column the file lacks is null and its name is added to `missing`;
    without it, such a column is an error naming the file's columns."""
    by_lower = {c.strip().lower(): c for c in columns}

    def column(parts: list[str]) -> str:
        first = by_lower.get(parts[0].strip().lower())
        if first is None:
            if missing is not None:
                missing.append(parts[0])
                return "null::varchar"
            shown = ", ".join(list(columns)[:30])
            raise MappingError(f"no column {parts[0]!r} in the file (its columns: {shown})")
        sql = f"{alias}.{quote_identifier(first)}"
        if len(parts) == 1:
            return sql
        # try: a text value that is not JSON has no keys (null), it does not stop the file
        return f"try(json_extract_string({sql}, {sql_literal(json_path(parts[1:]))}))"

    return column


def json_paths(alias: str, document: str = "json") -> Callable[[list[str]], str]:
    """Column references for JSON files: a path into each line's object, as text (an object or
    a list stays JSON text). A key absent from a line is null."""

    def column(parts: list[str]) -> str:
        return (
            f"json_extract_string({alias}.{quote_identifier(document)}, "
            f"{sql_literal(json_path(parts))})"
        )

    return column
