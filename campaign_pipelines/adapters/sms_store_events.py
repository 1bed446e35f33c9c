"""What a batch of SMS events does, as polars set operations over the batch (adapters/
sms_store.py applies it): receipts by core/sms/ledger.py's RANK and RECEIPT_STATES (the
vectorised ``after_receipt``), inbound messages by core/sms/replies.py's ``classify_reply``."""

from __future__ import annotations

import polars as pl

from campaign_pipelines.core.sms.ledger import RANK, RECEIPT_STATES
from campaign_pipelines.core.sms.replies import ReplyKind, classify_reply

_RANK = {str(state): rank for state, rank in RANK.items()}
_RECEIPT_STATES = {status: str(state) for status, state in RECEIPT_STATES.items()}
CHANGE_SCHEMA = pl.Schema({"provider_message_id": pl.String, "state": pl.String})


def decide_receipts(receipts: pl.DataFrame, ledger_rows: pl.DataFrame
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``receipts`` with ``campaign`` and ``outcome`` (``unknown_message`` when no ledger row
    has the id, ``applied`` when it moves the row forward, else ``unchanged``), and the
    ledger changes: per message id the furthest state, the latest receipt among equals."""
    rows = ledger_rows.unique("provider_message_id", keep="first")
    new_state = (pl.col("status").str.strip_chars().str.to_lowercase()
                 .replace_strict(_RECEIPT_STATES, default=None, return_dtype=pl.String))
    joined = receipts.join(rows, on="provider_message_id", how="left").with_columns(
        new_state=new_state)
    joined = joined.with_columns(
        new_rank=pl.col("new_state").replace_strict(_RANK, default=None, return_dtype=pl.Int64),
        old_rank=pl.col("state").replace_strict(_RANK, default=None, return_dtype=pl.Int64))
    moves = pl.col("new_rank").is_not_null() & (pl.col("new_rank") > pl.col("old_rank"))
    decided = joined.with_columns(outcome=pl.when(pl.col("campaign").is_null())
                                  .then(pl.lit("unknown_message"))
                                  .when(moves).then(pl.lit("applied"))
                                  .otherwise(pl.lit("unchanged")))
    changes = (decided.filter(pl.col("outcome") == "applied")
               .sort(["new_rank", "received_at"], descending=True)
               .unique("provider_message_id", keep="first", maintain_order=True)
               .select("provider_message_id", state=pl.col("new_state")))
    return decided.drop("state", "new_state", "new_rank", "old_rank"), changes


def decide_inbound(inbound: pl.DataFrame, campaigns: pl.DataFrame
                   ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``inbound`` with ``campaign`` (the one it answers, from ``campaigns``: event_id,
    campaign) and ``outcome`` (opt_out, opt_in, reply); the numbers to suppress
    (phone_e164, reason, source) and those whose stop is lifted: per number its last
    keyword in the batch decides."""
    bodies = inbound.select(pl.col("body").unique())
    kinds = bodies.with_columns(outcome=pl.col("body").map_elements(
        lambda body: classify_reply(body).kind.value, return_dtype=pl.String,
        skip_nulls=False))
    decided = (inbound.join(campaigns, on="event_id", how="left")
               .join(kinds, on="body", how="left", nulls_equal=True))
    keywords = (decided.filter(pl.col("outcome") != ReplyKind.REPLY.value,
                               pl.col("phone_e164").is_not_null())
                .sort("received_at").group_by("phone_e164", maintain_order=True).last())
    stops = keywords.filter(pl.col("outcome") == ReplyKind.OPT_OUT.value).select(
        "phone_e164", reason=pl.lit("stop_reply"), source=pl.lit("inbound ") + pl.col(
            "event_id"))
    starts = keywords.filter(pl.col("outcome") == ReplyKind.OPT_IN.value).select("phone_e164")
    return decided, stops, starts
