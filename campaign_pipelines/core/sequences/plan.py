"""Enrollment and the send ledger's rules, over polars frames: who enrols, what is planned,
what is due at a given ``now``.

- One enrollment per address and sequence. A signup for an address already enrolled in that
  sequence (before, or earlier in the same batch) does not enrol again and plans nothing: it is
  kept in ``signups`` with outcome ``duplicate`` (the seed's rule, "skip once any e-mail is
  sent", made strict: the ledger already holds all seven sends, so nothing is ever resent).
- An enrollment plans seven ledger rows, due at the signup's arrival plus the timing's offset.
- The idempotency key of a send is sha256(sequence|address_key|number): the same on every
  retry, run and host, and given to the provider, which delivers a key once.
- At ``now``, a queued row whose due time has come is sent, unless its address is suppressed
  (unsubscribed, bounced, by hand) or its enrollment is no longer active: then it is marked
  ``suppressed`` and never sent. A row left ``sending`` (its sender died between the claim and
  the record) is taken again once its claim is older than ``SENDING_LEASE``; the provider's
  idempotency makes that second send deliver nothing new. A row tried ``MAX_ATTEMPTS`` times
  without success fails, visible with its last error.
- A CRITICAL enrollment's alert is posted once per send run until it is ``sent``; an
  unavailable webhook leaves it ``pending`` for the next run, up to ``ALERT_ATTEMPTS`` posts,
  then ``failed``; a refusal fails it at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from campaign_pipelines.core.sequences.definition import EMAILS, SequenceDefinition, Timing
from campaign_pipelines.core.sequences.signups import Segment

SENDING_LEASE = timedelta(minutes=15)
MAX_ATTEMPTS = 8
ALERT_ATTEMPTS = 5
UTC_US = pl.Datetime("us", "UTC")

SIGNUP_SCHEMA = pl.Schema({
    "signup_id": pl.String, "received_at": UTC_US, "sequence": pl.String,
    "address_key": pl.String, "email": pl.String, "first_name": pl.String,
    "business_name": pl.String, "red_systems": pl.Int32, "orange_systems": pl.Int32,
    "segment": pl.String, "assessment": pl.String, "source_file": pl.String,
    "arrival": pl.String, "outcome": pl.String, "recorded_at": UTC_US,
})
ENROLLMENT_SCHEMA = pl.Schema({
    "enrollment_id": pl.String, "sequence": pl.String, "address_key": pl.String,
    "email": pl.String, "first_name": pl.String, "business_name": pl.String,
    "segment": pl.String, "red_systems": pl.Int32, "orange_systems": pl.Int32,
    "signup_id": pl.String, "enrolled_at": UTC_US, "timing": pl.String, "status": pl.String,
    "alert_state": pl.String, "alert_attempts": pl.Int32, "alert_error": pl.String,
    "updated_at": UTC_US,
})
LEDGER_SCHEMA = pl.Schema({
    "idempotency_key": pl.String, "enrollment_id": pl.String, "sequence": pl.String,
    "address_key": pl.String, "email_number": pl.Int32, "due_at": UTC_US, "state": pl.String,
    "attempts": pl.Int32, "provider": pl.String, "provider_message_id": pl.String,
    "last_error": pl.String, "claimed_at": UTC_US, "sent_at": UTC_US, "created_at": UTC_US,
    "updated_at": UTC_US,
})
STATES = ("queued", "sending", "sent", "failed", "suppressed")
ADDRESS_SUPPRESSED = "address suppressed"  # last_error of a row never sent: its address is
ENROLLMENT_CLOSED = "enrollment "  # + the enrollment's status (cancelled)


def idempotency_key(sequence: str, address_key: str, number: int) -> str:
    return hashlib.sha256(f"{sequence}|{address_key}|{number}".encode()).hexdigest()


def enrollment_id(sequence: str, address_key: str) -> str:
    return hashlib.sha256(f"{sequence}|{address_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Enrolment:
    signups: pl.DataFrame  # every signup of the batch, with its outcome
    enrollments: pl.DataFrame  # the new ones
    ledger: pl.DataFrame  # seven rows per new enrollment

    def counts(self) -> dict:
        per_segment = dict(self.enrollments.group_by("segment").len().iter_rows())
        return {
            "signups": self.signups.height,
            "enrolled": self.enrollments.height,
            "duplicates": int((self.signups["outcome"] == "duplicate").sum()),
            "enrolled_per_segment": {s.value: per_segment.get(s.value, 0) for s in Segment},
        }


def enroll(signups: pl.DataFrame, enrolled: pl.DataFrame,
           definitions: dict[str, SequenceDefinition], timing: Timing,
           now: datetime) -> Enrolment:
    """``signups`` (SIGNUP_SCHEMA, outcome empty) against the (sequence, address_key) pairs
    already ``enrolled``: the first arrival of each new pair enrols, every other is a duplicate."""
    ordered = signups.sort("received_at", "signup_id").with_columns(
        first=pl.int_range(pl.len()).over("sequence", "address_key") == 0)
    known = enrolled.select("sequence", "address_key").unique().with_columns(known=pl.lit(True))
    ordered = ordered.join(known, on=["sequence", "address_key"], how="left")
    enrols = pl.col("first") & pl.col("known").is_null()
    marked = ordered.with_columns(
        outcome=pl.when(enrols).then(pl.lit("enrolled")).otherwise(pl.lit("duplicate")),
        recorded_at=pl.lit(now).cast(UTC_US))
    new = marked.filter(pl.col("outcome") == "enrolled")
    enrollments = new.select(
        pl.struct("sequence", "address_key").map_elements(
            lambda r: enrollment_id(r["sequence"], r["address_key"]),
            return_dtype=pl.String).alias("enrollment_id"),
        "sequence", "address_key", "email", "first_name", "business_name", "segment",
        "red_systems", "orange_systems", "signup_id", pl.col("received_at").alias("enrolled_at"),
        timing=pl.lit(timing), status=pl.lit("active"),
        alert_state=pl.when(pl.col("segment") == Segment.CRITICAL.value)
        .then(pl.lit("pending")).otherwise(pl.lit("none")),
        alert_attempts=pl.lit(0, pl.Int32), alert_error=pl.lit(None, pl.String),
        updated_at=pl.lit(now).cast(UTC_US),
    ).cast(ENROLLMENT_SCHEMA)
    return Enrolment(signups=marked.select(SIGNUP_SCHEMA.names()).cast(SIGNUP_SCHEMA),
                     enrollments=enrollments,
                     ledger=planned_ledger(enrollments, definitions, timing, now))


def planned_ledger(enrollments: pl.DataFrame, definitions: dict[str, SequenceDefinition],
                   timing: Timing, now: datetime) -> pl.DataFrame:
    offsets = pl.DataFrame(
        [{"sequence": name, "email_number": n, "offset": d.offset(timing, n)}
         for name, d in definitions.items() for n in range(1, EMAILS + 1)],
        schema={"sequence": pl.String, "email_number": pl.Int32, "offset": pl.Duration("us")})
    planned = enrollments.select("enrollment_id", "sequence", "address_key", "enrolled_at").join(
        offsets, on="sequence")
    return planned.select(
        pl.struct("sequence", "address_key", "email_number").map_elements(
            lambda r: idempotency_key(r["sequence"], r["address_key"], r["email_number"]),
            return_dtype=pl.String).alias("idempotency_key"),
        "enrollment_id", "sequence", "address_key", "email_number",
        due_at=pl.col("enrolled_at") + pl.col("offset"), state=pl.lit("queued"),
        attempts=pl.lit(0, pl.Int32), created_at=pl.lit(now).cast(UTC_US),
        updated_at=pl.lit(now).cast(UTC_US),
    ).sort("enrollment_id", "email_number").with_columns(
        [pl.lit(None, LEDGER_SCHEMA[c]).alias(c) for c in
         ("provider", "provider_message_id", "last_error", "claimed_at", "sent_at")]
    ).select(LEDGER_SCHEMA.names()).cast(LEDGER_SCHEMA)


DUE_COLUMNS = ("idempotency_key", "state", "due_at", "claimed_at", "attempts",
               "enrollment_status", "suppressed")


@dataclass(frozen=True)
class Due:
    send: pl.DataFrame  # idempotency keys to claim now, in sending order
    suppress: pl.DataFrame  # idempotency_key, last_error: never to be sent
    give_up: pl.DataFrame  # idempotency_key, last_error: tried MAX_ATTEMPTS times


def due_now(candidates: pl.DataFrame, now: datetime) -> Due:
    """``candidates`` (DUE_COLUMNS plus anything to keep, e.g. email_number): which to send,
    suppress or give up on at ``now``."""
    ready = candidates.filter(
        ((pl.col("state") == "queued") & (pl.col("due_at") <= now))
        | ((pl.col("state") == "sending") & (pl.col("claimed_at") <= now - SENDING_LEASE)))
    blocked = pl.col("suppressed") | (pl.col("enrollment_status") != "active")
    suppress = ready.filter(blocked).select(
        "idempotency_key",
        last_error=pl.when(pl.col("suppressed")).then(pl.lit(ADDRESS_SUPPRESSED))
        .otherwise(pl.lit(ENROLLMENT_CLOSED) + pl.col("enrollment_status")))
    open_ = ready.filter(~blocked)
    exhausted = pl.col("attempts") >= MAX_ATTEMPTS
    give_up = open_.filter(exhausted).select(
        "idempotency_key", last_error=pl.lit(f"gave up after {MAX_ATTEMPTS} attempts"))
    send = open_.filter(~exhausted).sort("due_at", "enrollment_id", "email_number")
    return Due(send=send, suppress=suppress, give_up=give_up)


def alert_state_after_failure(refused: bool, attempts_before: int) -> str:
    """A failed post's alert state: ``failed`` when refused or at its last attempt, else
    ``pending`` (the next send run posts it again)."""
    return "failed" if refused or attempts_before + 1 >= ALERT_ATTEMPTS else "pending"


def planned_sends(ledger: pl.DataFrame) -> list[dict]:
    """An enrollment's ledger rows as the status command shows them."""
    return [{"email": row["email_number"], "due_at": row["due_at"].isoformat(),
             "state": row["state"], "attempts": row["attempts"],
             "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
             "last_error": row["last_error"]}
            for row in ledger.sort("email_number").iter_rows(named=True)]
