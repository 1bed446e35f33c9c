"""The SMS send ledger's pure rules: one row per campaign × recipient, its key, its states,
and the counters and texts reported from it.

Decisions:
- The idempotency key is ``sms-`` + the first 32 hex digits of sha256("<campaign>|<E.164>"):
  the same on every retry, run and host, and given to the provider. It depends on the
  campaign's name, not its version, so a campaign replaced under the same name never texts
  someone it has texted already.
- States: ``queued`` → ``sending`` (claimed, before the provider call) → ``sent`` (accepted by
  the provider) | ``failed`` (refused, e.g. an invalid number) | ``suppressed`` (the number
  opted out, found at send time or by the provider's "unsubscribed" error); a queued row of a
  campaign whose end_at passed becomes ``expired``. Receipts then move ``sent`` to
  ``delivered`` or ``undelivered``. Every state but queued and sending is final for sending:
  a campaign completes when all its rows are in FINAL_STATES.
- A receipt is evidence of what the provider has, so it wins over the ledger's own decisions:
  it moves a row forward by RANK (queued/sending/failed/suppressed/expired < sent < delivered
  = undelivered) and is ignored when the row is already as far (receipts arrive out of order).
- "Sent" in counters and results counts every message the provider accepted (sent, delivered
  and undelivered); "failed" counts refusals and undelivered; rates are percentages of sent
  with two decimals, 0.0 when nothing was sent.
- The runner looks at the campaign's status every STATUS_CHECK_EVERY messages and writes its
  counters every PROGRESS_EVERY messages and at the end of a run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

STATUS_CHECK_EVERY = 10
PROGRESS_EVERY = 25


class LedgerState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"


L = LedgerState
OPEN_STATES = frozenset({L.QUEUED, L.SENDING})
FINAL_STATES = frozenset(LedgerState) - OPEN_STATES
ACCEPTED_STATES = frozenset({L.SENT, L.DELIVERED, L.UNDELIVERED})
RANK = {L.QUEUED: 0, L.SENDING: 0, L.FAILED: 0, L.SUPPRESSED: 0, L.EXPIRED: 0,
        L.SENT: 1, L.DELIVERED: 2, L.UNDELIVERED: 2}
# Twilio's MessageStatus values; the others (queued, accepted, sending, ...) change nothing.
RECEIPT_STATES = {"sent": L.SENT, "delivered": L.DELIVERED, "read": L.DELIVERED,
                  "undelivered": L.UNDELIVERED, "failed": L.UNDELIVERED}


def all_final(states: Mapping[str, int]) -> bool:
    """Whether a campaign's ledger (rows per state) holds no open row: nothing queued or
    being sent, so the campaign may complete."""
    return not any(states.get(state, 0) for state in OPEN_STATES)


def idempotency_key(campaign: str, e164: str) -> str:
    digest = hashlib.sha256(f"{campaign}|{e164}".encode()).hexdigest()
    return f"sms-{digest[:32]}"


def with_idempotency_keys(frame: pl.DataFrame, campaign: str,
                          column: str = "phone_e164") -> pl.DataFrame:
    """``frame`` with an ``idempotency_key`` column for each row's number (hashlib runs at
    about a microsecond a row: 100k rows in a tenth of a second)."""
    numbers = frame.get_column(column)
    if numbers.null_count():
        raise ValueError(f"{numbers.null_count()} rows have no {column}: key valid rows only")
    keys = [idempotency_key(campaign, number) for number in numbers.to_list()]
    return frame.with_columns(idempotency_key=pl.Series(keys, dtype=pl.String))


def after_receipt(state: LedgerState | str, provider_status: str) -> LedgerState | None:
    """The row's state after a delivery receipt, or None when the receipt changes nothing."""
    new = RECEIPT_STATES.get(provider_status.strip().lower())
    if new is None or RANK[new] <= RANK[LedgerState(state)]:
        return None
    return new


def is_checkpoint(sent_in_run: int, every: int) -> bool:
    """True after every ``every``-th message of a run (STATUS_CHECK_EVERY, PROGRESS_EVERY)."""
    return sent_in_run > 0 and sent_in_run % every == 0


def with_unrecorded(states: Mapping[str, int], outcomes: Mapping[str, int]) -> dict[str, int]:
    """The ledger's rows per state (``states``) as they will be once a runner records the
    outcomes it holds (``outcomes``: rows per outcome state, each row ``sending`` in
    ``states`` until then); a state left with no row is dropped."""
    moved = {state: n for state, n in outcomes.items() if state != L.SENDING and n}
    result = dict(states)
    result[L.SENDING.value] = max(0, int(result.get(L.SENDING.value, 0)) - sum(moved.values()))
    for state, n in moved.items():
        result[state] = int(result.get(state, 0)) + n
    return {state: n for state, n in result.items() if n}


@dataclass(frozen=True)
class Counters:
    total: int
    sent: int
    delivered: int
    failed: int
    replies: int
    opt_outs: int

    @property
    def delivery_rate(self) -> float:
        return _percent(self.delivered, self.sent)

    @property
    def opt_out_rate(self) -> float:
        return _percent(self.opt_outs, self.sent)

    def as_dict(self) -> dict[str, int | float]:
        return {"total": self.total, "sent": self.sent, "delivered": self.delivered,
                "failed": self.failed, "replies": self.replies, "opt_outs": self.opt_outs,
                "delivery_rate": self.delivery_rate, "opt_out_rate": self.opt_out_rate}


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _count(states: Mapping[str, int], *wanted: LedgerState) -> int:
    return sum(int(states.get(state.value, 0)) for state in wanted)


def counters(states: Mapping[str, int], *, replies: int = 0, opt_outs: int = 0) -> Counters:
    """The campaign's counters from its ledger's rows per state (e.g. a GROUP BY state)."""
    unknown = set(states) - {state.value for state in LedgerState}
    if unknown:
        raise ValueError(f"unknown ledger states {sorted(unknown)}")
    return Counters(total=sum(int(n) for n in states.values()),
                    sent=_count(states, *ACCEPTED_STATES),
                    delivered=_count(states, L.DELIVERED),
                    failed=_count(states, L.FAILED, L.UNDELIVERED),
                    replies=replies, opt_outs=opt_outs)


def run_result(states: Mapping[str, int]) -> str:
    """The campaign's ``last_run_result``: "sent 1,204 of 1,210; 6 suppressed", followed by
    every other non-zero group (failed, expired, still queued, sending)."""
    total = sum(int(n) for n in states.values())
    text = f"sent {_count(states, *ACCEPTED_STATES):,} of {total:,}"
    for state in (L.SUPPRESSED, L.FAILED, L.EXPIRED, L.QUEUED, L.SENDING):
        if count := _count(states, state):
            text += f"; {count:,} {state.value}"
    return text
