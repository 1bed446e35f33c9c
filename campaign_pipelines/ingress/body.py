"""A request body read into a validated value, or the refusal that says what to fix.

Order of the checks, each before any work the next one costs: the declared length (413), the
body read up to the limit and not a byte further (413), then the caller's authentication
(``auth.py``, over the raw bytes), the media type (415), JSON with no key given twice (400,
422), and the model (422 naming each field). Nothing is written before all of them pass.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from campaign_pipelines.core.request_text import unique_keys

M = TypeVar("M", bound=BaseModel)
_FIXES = {
    "email": "send a valid address, e.g. name@example.com",
    "red_systems": "send a whole number from 0 to 100",
    "orange_systems": "send a whole number from 0 to 100",
    "sequence": "lower-case letters, digits, '-' and '_' only (or leave it out)",
    "first_name": "send text of at most 200 characters",
    "business_name": "send text of at most 200 characters",
    "assessment": "send an object of answers, e.g. {\"q1\": \"yes\"}",
}


class Refusal(Exception):
    """An answer other than success: status and the problems (field, problem, fix)."""

    def __init__(self, status: int, field: str, problem: str, fix: str):
        self.status = status
        self.problems = [{"field": field, "problem": problem, "fix": fix}]
        super().__init__(problem)

    @classmethod
    def listing(cls, status: int, problems: list[dict]) -> Refusal:
        """A refusal for every problem in ``problems`` (field, problem, fix; at least one)."""
        refusal = cls(status, **problems[0])
        refusal.problems = problems
        return refusal


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body; Refusal(413) as soon as it is known to be larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> Refusal:
    fix = "send one record per request (one signup, one event); put long texts elsewhere"
    return Refusal(413, "<body>", f"the body is {size}+ bytes, more than the {limit} allowed", fix)


def json_value(body: bytes, content_type: str | None) -> Any:
    """The body's JSON value; Refusal for another media type, bad JSON or a repeated key."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        problem = f"the body is sent as {media or 'no media type'!r}, not JSON"
        fix = "send JSON with 'Content-Type: application/json'"
        raise Refusal(415, "Content-Type", problem, fix)
    try:
        return json.loads(body, object_pairs_hook=unique_keys)
    except UnicodeDecodeError:
        raise Refusal(400, "<body>", "the body is not UTF-8 text", "send UTF-8 JSON") from None
    except RecursionError:
        raise Refusal(400, "<body>", "the JSON nests too deeply", "send one flat object") from None
    except json.JSONDecodeError as error:
        fix = "fix the JSON at that position"
        raise Refusal(400, "<body>", f"not JSON: {error}", fix) from None
    except ValueError as error:  # unique_keys' refusal, or an integer of thousands of digits
        key = getattr(error, "key", None)
        if key is None:
            raise Refusal(400, "<body>", "a number is too long", "send shorter numbers") from None
        raise Refusal(422, str(key), f"the key {key!r} is given twice", "keep one") from None


def validated(model: type[M], value: Any) -> M:
    """``value`` as ``model``; Refusal(422) naming the first field that is wrong and the fix
    (``problems`` lists every one)."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False, include_input=False):
            field = ".".join(str(part) for part in detail["loc"]) or "<body>"
            fix = _fix(field, detail["type"])
            problem = detail["msg"].removeprefix("Value error, ")
            problems.append({"field": field, "problem": problem, "fix": fix})
        raise Refusal.listing(422, problems) from None


def _fix(field: str, kind: str) -> str:
    if field == "<body>":
        return "send one JSON object, e.g. {\"email\": \"name@example.com\"}"
    if kind == "extra_forbidden":
        return "remove it (assessment answers go inside 'assessment'), or check its spelling"
    if kind == "missing":
        return f"add '{field}'"
    return _FIXES.get(field.partition(".")[0], "see the README's signup example")
