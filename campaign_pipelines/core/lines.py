"""Landing files of JSON lines (signups, unsubscribes, SMS events) read one model per line.

A line that is not one is a problem naming its line number and field, and the file's other
lines are kept: one bad line never costs the good ones. A document over MAX_LINES is one
problem and nothing is read (the ingress completes its journals at 10,000 lines).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

MAX_LINES = 100_000
M = TypeVar("M", bound=BaseModel)


def model_lines(data: bytes, model: type[M], fix: str) -> tuple[list[tuple[int, M]], list[dict]]:
    """Each non-blank line of ``data`` as a ``model`` with its line number, and a problem per
    line that is not one (``fix`` says what a line should be)."""
    lines = data.split(b"\n")
    if len(lines) > MAX_LINES:
        return [], [{"field": "<document>", "problem": f"more than {MAX_LINES} lines",
                     "fix": "split the file"}]
    records, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append((number, model.model_validate_json(line)))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"])) or "<line>"
            problems.append({"field": f"line {number}: {where}", "problem": first["msg"],
                             "fix": fix})
    return records, problems
