"""Landing lines → signup rows: each line of a ``landing/signups`` file is one SignupRecord
(core/sequences/signups.py). A line that is not one, or names a sequence that has no
definition, is a problem naming its line and field; the file's other lines are kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
from pydantic import ValidationError

from campaign_pipelines.core.sequences.plan import SIGNUP_SCHEMA
from campaign_pipelines.core.sequences.signups import SignupRecord, address_key

MAX_LINES = 100_000


def parse_lines(data: bytes, known_sequences: set[str]) -> tuple[list[SignupRecord], list[dict]]:
    records, problems = [], []
    lines = data.split(b"\n")
    if len(lines) > MAX_LINES:
        return [], [{"field": "<document>", "problem": f"more than {MAX_LINES} lines",
                     "fix": "split the file"}]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = SignupRecord.model_validate_json(line)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"])) or "<line>"
            problems.append({"field": f"line {number}: {where}", "problem": first["msg"],
                             "fix": "one SignupRecord JSON object per line "
                             "(core/sequences/signups.py)"})
            continue
        if record.signup.sequence not in known_sequences:
            problems.append({"field": f"line {number}: signup.sequence",
                             "problem": f"no sequence {record.signup.sequence!r}",
                             "fix": f"use one of {sorted(known_sequences)} "
                             "(campaign_pipelines/config/sequences/)"})
            continue
        records.append(record)
    return records, problems


def signup_rows(records: list[SignupRecord], source_file: str, arrival: str) -> pl.DataFrame:
    """The records as SIGNUP_SCHEMA rows (outcome and recorded_at left to ``enroll``)."""
    return pl.DataFrame([{
        "signup_id": r.signup_id, "received_at": r.received_at.astimezone(UTC),
        "sequence": r.signup.sequence, "address_key": address_key(r.signup.email),
        "email": r.signup.email, "first_name": r.signup.first_name,
        "business_name": r.signup.business_name, "red_systems": r.signup.red_systems,
        "orange_systems": r.signup.orange_systems, "segment": r.signup.segment.value,
        "assessment": json.dumps(r.signup.assessment, ensure_ascii=False, sort_keys=True),
        "source_file": source_file, "arrival": arrival, "outcome": None,
        "recorded_at": datetime.now(UTC),
    } for r in records], schema=SIGNUP_SCHEMA)


UNSUBSCRIBE_SCHEMA = pl.Schema({"address_key": pl.String, "reason": pl.String,
                                "source": pl.String, "received_at": SIGNUP_SCHEMA["received_at"]})


def parse_unsubscribes(data: bytes) -> tuple[pl.DataFrame, list[dict]]:
    """Lines ``{"address_key", "received_at", "source"}`` of ``landing/unsubscribes``."""
    rows, problems = [], []
    lines = data.split(b"\n")
    if len(lines) > MAX_LINES:
        return pl.DataFrame(schema=UNSUBSCRIBE_SCHEMA), [
            {"field": "<document>", "problem": f"more than {MAX_LINES} lines",
             "fix": "split the file"}]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
            rows.append({"address_key": address_key(str(body["address_key"])),
                         "reason": "unsubscribed", "source": str(body.get("source") or ""),
                         "received_at": datetime.fromisoformat(body["received_at"])})
        except (ValueError, KeyError, TypeError) as error:
            what = f"no {error}" if isinstance(error, KeyError) else str(error)
            problems.append({"field": f"line {number}",
                             "problem": f"{type(error).__name__}: {what}",
                             "fix": 'one {"address_key", "received_at", "source"} per line'})
    return pl.DataFrame(rows, schema=UNSUBSCRIBE_SCHEMA), problems
