"""The ledger's key, states, receipts, counters and result text."""

import hashlib

import polars as pl
import pytest

from campaign_pipelines.core.sms.ledger import (
    FINAL_STATES,
    OPEN_STATES,
    LedgerState,
    after_receipt,
    all_final,
    counters,
    idempotency_key,
    is_checkpoint,
    run_result,
    with_idempotency_keys,
    with_unrecorded,
)

L = LedgerState


def test_the_key_is_deterministic_per_campaign_and_number():
    key = idempotency_key("dec", "+77012345678")
    digest = hashlib.sha256(b"dec|+77012345678").hexdigest()
    assert key == f"sms-{digest[:32]}" and len(key) == 36
    assert key == idempotency_key("dec", "+77012345678")
    assert key != idempotency_key("jan", "+77012345678")
    assert key != idempotency_key("dec", "+77012345679")


def test_keys_for_a_frame():
    frame = pl.DataFrame({"phone_e164": ["+77012345678", "+77012345679"]})
    keyed = with_idempotency_keys(frame, "dec")
    assert keyed["idempotency_key"].to_list() == [
        idempotency_key("dec", "+77012345678"), idempotency_key("dec", "+77012345679")]
    with pytest.raises(ValueError, match="1 rows have no phone_e164"):
        with_idempotency_keys(pl.DataFrame({"phone_e164": ["+77012345678", None]}), "dec")


def test_final_states_are_all_but_queued_and_sending():
    assert OPEN_STATES == {L.QUEUED, L.SENDING}
    assert FINAL_STATES == {L.SENT, L.FAILED, L.SUPPRESSED, L.EXPIRED, L.DELIVERED,
                            L.UNDELIVERED}


@pytest.mark.parametrize("state, receipt, expected", [
    (L.SENT, "delivered", L.DELIVERED),
    (L.SENT, "undelivered", L.UNDELIVERED),
    (L.SENT, "failed", L.UNDELIVERED),
    (L.SENT, "read", L.DELIVERED),
    (L.SENDING, "sent", L.SENT),  # the runner died after the provider accepted
    (L.SENDING, "Delivered", L.DELIVERED),
    (L.QUEUED, "delivered", L.DELIVERED),
    (L.DELIVERED, "sent", None),  # out of order
    (L.DELIVERED, "undelivered", None),
    (L.UNDELIVERED, "delivered", None),
    (L.SENT, "sent", None),
    (L.SENT, "queued", None),
    (L.SENT, "accepted", None),
    (L.SENT, "no-such-status", None),
])
def test_receipts_only_move_forward(state, receipt, expected):
    assert after_receipt(state, receipt) == expected


def test_counters_and_rates_are_zero_safe():
    states = {"sent": 100, "delivered": 1_100, "undelivered": 4, "failed": 2,
              "suppressed": 6, "queued": 0}
    c = counters(states, replies=7, opt_outs=12)
    assert (c.total, c.sent, c.delivered, c.failed, c.replies, c.opt_outs) == (
        1_212, 1_204, 1_100, 6, 7, 12)
    assert c.delivery_rate == 91.36 and c.opt_out_rate == 1.0
    assert c.as_dict()["delivery_rate"] == 91.36
    empty = counters({})
    assert (empty.delivery_rate, empty.opt_out_rate, empty.total) == (0.0, 0.0, 0)
    with pytest.raises(ValueError, match="unknown ledger states"):
        counters({"bounced": 1})


def test_the_run_result_reads_like_the_seeds():
    assert run_result({"sent": 1_204, "suppressed": 6}) == "sent 1,204 of 1,210; 6 suppressed"
    assert run_result({"sent": 50, "queued": 1_160}) == "sent 50 of 1,210; 1,160 queued"
    assert run_result({"delivered": 3, "undelivered": 1, "failed": 1, "expired": 2,
                       "sending": 1}) == "sent 4 of 8; 1 failed; 2 expired; 1 sending"
    assert run_result({}) == "sent 0 of 0"


def test_checkpoints_every_10_and_25_messages():
    assert [n for n in range(0, 51) if is_checkpoint(n, 10)] == [10, 20, 30, 40, 50]
    assert [n for n in range(0, 51) if is_checkpoint(n, 25)] == [25, 50]


def test_unrecorded_outcomes_move_their_rows_out_of_sending():
    states = {"sending": 40, "sent": 100, "queued": 60}
    assert with_unrecorded(states, {"sent": 24, "failed": 1, "sending": 2}) == {
        "sending": 15, "sent": 124, "failed": 1, "queued": 60}
    assert with_unrecorded(states, {"queued": 40}) == {"sent": 100, "queued": 100}
    assert with_unrecorded({"sending": 3}, {"sent": 5}) == {"sent": 5}  # never below zero


def test_a_ledger_is_all_final_only_with_nothing_queued_or_being_sent():
    assert all_final({"sent": 3, "failed": 1, "suppressed": 2})
    assert all_final({})
    assert not all_final({"sent": 3, "queued": 1})
    assert not all_final({"delivered": 3, "sending": 1})
