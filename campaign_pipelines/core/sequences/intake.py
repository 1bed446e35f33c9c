"""Landing lines → signup rows: each line of a ``landing/signups`` file is one SignupRecord
(core/sequences/signups.py). A line that is not one, or names a sequence that has no
definition, is a problem naming its line and field; the file's other lines are kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from campaign_pipelines.core.lines import model_lines
from campaign_pipelines.core.sequences.plan import SIGNUP_SCHEMA
from campaign_pipelines.core.sequences.signups import SignupRecord, address_key
from campaign_pipelines.core.sequences.unsubscribe import UnsubscribeLine


def parse_lines(data: bytes, known_sequences: set[str]) -> tuple[list[SignupRecord], list[dict]]:
    numbered, problems = model_lines(data, SignupRecord, "one SignupRecord JSON object per line "
                                     "(core/sequences/signups.py)")
    records = []
    for number, record in numbered:
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
    """Lines of ``landing/unsubscribes`` (UnsubscribeLine) as rows, and a problem per line that
    is not one."""
    numbered, problems = model_lines(data, UnsubscribeLine, "one UnsubscribeLine JSON object "
                                     "per line (core/sequences/unsubscribe.py)")
    rows = [{"address_key": address_key(u.address_key), "reason": "unsubscribed",
             "source": u.source, "received_at": u.received_at} for _, u in numbered]
    return pl.DataFrame(rows, schema=UNSUBSCRIBE_SCHEMA), problems
