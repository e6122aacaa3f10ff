"""DuckDB SQL of the pipeline, one file per statement group, loaded by name."""

from __future__ import annotations

import re
from contextlib import contextmanager
from importlib import resources


def load(name: str, **identifiers: str) -> str:
    """The text of `sql/<name>.sql`, with `{placeholders}` filled from `identifiers`.

    Only identifiers and column lists built by the pipeline itself are substituted;
    values travel as query parameters (`$as_of`, `$run_id`).
    """
    text = resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return text.format(**identifiers) if identifiers else text


def literal(value: float) -> str:
    """A validated config number as SQL text: whole numbers stay integers, so day
    windows can be subtracted from dates."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def statements(text: str) -> list[str]:
    """Split SQL text into statements at `;` outside string literals, dropping `--`
    comments outside them."""
    parts = re.findall(r"'(?:[^']|'')*'|--[^\n]*|;|[^';-]+|-", text)
    found, current = [], []
    for part in parts:
        if part == ";":
            found.append("".join(current).strip())
            current = []
        elif not part.startswith("--"):
            current.append(part)
    found.append("".join(current).strip())
    return [statement for statement in found if statement]


def run(connection, text: str, parameters: dict | None = None) -> None:
    """Execute every statement of `text`, each with the `$parameters` it names."""
    parameters = parameters or {}
    for statement in statements(text):
        named = {
            key: value for key, value in parameters.items() if re.search(rf"\${key}\b", statement)
        }
        connection.execute(statement, named)


def scalar(connection, query: str, parameters=None):
    """The single value of a query. The result is read to its end, as DuckDB 2 wants
    before the connection runs anything else."""
    return connection.execute(query, parameters or []).fetchall()[0][0]


@contextmanager
def transaction(connection):
    """The body as one transaction: committed when it ends, rolled back when it raises
    or is interrupted, so that no step leaves half its writes."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
