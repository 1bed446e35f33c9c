"""One line of ``landing/sms_events``: a delivery receipt or an inbound message. The ingress
writes it (``ingress/sms.py``), the SMS events sensor reads it (``parse_events``): one model
on both sides, as ``core/sequences/unsubscribe.UnsubscribeLine`` is for unsubscribes.

Decisions:
- ``kind="status"``: the provider's receipt for a message the runner sent. ``phone_e164`` is
  the recipient, ``status`` the provider's word for the message now (Twilio's MessageStatus
  values, RECEIPT_STATUSES; ``core/sms/ledger.after_receipt`` says which move a ledger row)
  and ``error_code`` the provider's code when it gave one (Twilio's ``30003``, ``21610``).
  ``body`` and ``reply_kind`` are null.
- ``kind="inbound"``: a message a person sent to one of our numbers. ``phone_e164`` is the
  sender, ``body`` the text (empty for a picture alone), ``reply_kind`` what
  ``core/sms/replies.classify_reply`` said when it arrived (opt_out, opt_in or reply): the
  line records the meaning it was acted on, a later change of the keyword list does not
  reinterpret history. ``status`` and ``error_code`` are null.
- ``provider`` names who vouched for the event: ``twilio`` when its ``X-Twilio-Signature``
  was checked, ``project`` when the caller held the project's own token (the outbox or a
  loopback provider, another gateway).
- ``event_id`` is derived from what the event says (provider, kind, message id, status, error
  code), never random: a callback the provider delivers twice has one id, so the append-only
  ``sms/events`` keeps it once. An inbound message's id is its provider's message id.
- ``phone_e164`` goes through ``core/sms/phones.normalise_phone``, the rule the prospect lists
  follow, so a suppression matches the ledger's numbers. A number that rule refuses (a
  landline, an extension) is kept as null with ``phone_problem``: the event is not lost, a
  receipt is matched by its message id, and such a number is never a recipient, so an
  opt-out from it has nothing to suppress.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

import polars as pl
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from campaign_pipelines.core.lines import model_lines
from campaign_pipelines.core.sms.phones import normalise_phone
from campaign_pipelines.core.sms.replies import ReplyKind, classify_reply

# Twilio's MessageStatus values of an outbound message, as its status callbacks send them.
RECEIPT_STATUSES = ("accepted", "scheduled", "canceled", "queued", "sending", "sent", "failed",
                    "delivered", "undelivered", "read", "partially_delivered")
MESSAGE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
ERROR_CODE = r"^[0-9]{1,8}$"
E164 = r"^\+[1-9][0-9]{6,14}$"

ReceiptStatus = Literal["accepted", "scheduled", "canceled", "queued", "sending", "sent",
                        "failed", "delivered", "undelivered", "read", "partially_delivered"]
Provider = Literal["twilio", "project"]


def event_id(provider: str, kind: str, message_id: str, status: str | None = None,
             error_code: str | None = None) -> str:
    """The event's id: 32 hex digits of sha256 over what it says (module docstring)."""
    text = "|".join((provider, kind, message_id, status or "", error_code or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SmsEvent(BaseModel):
    """One line of ``landing/sms_events``; build it with ``receipt`` or ``inbound``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    kind: Literal["status", "inbound"]
    provider: Provider
    provider_message_id: Annotated[str, Field(pattern=MESSAGE_ID)]
    phone_e164: Annotated[str, Field(pattern=E164)] | None
    phone_problem: str | None = None
    status: ReceiptStatus | None = None
    error_code: Annotated[str, Field(pattern=ERROR_CODE)] | None = None
    body: str | None = None
    reply_kind: ReplyKind | None = None
    received_at: AwareDatetime

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Self:
        if self.kind == "status":
            wrong = [f for f in ("body", "reply_kind") if getattr(self, f) is not None]
            missing = ["status"] if self.status is None else []
        else:
            wrong = [f for f in ("status", "error_code") if getattr(self, f) is not None]
            missing = [f for f in ("body", "reply_kind") if getattr(self, f) is None]
        if wrong or missing:
            raise ValueError(f"a {self.kind} event has {', '.join(missing)} missing"
                             if missing else f"a {self.kind} event has no {', '.join(wrong)}")
        if self.phone_e164 is None and self.phone_problem is None:
            raise ValueError("an event without phone_e164 says why in phone_problem")
        return self

    @classmethod
    def receipt(cls, *, provider: Provider, message_id: str, to: str, status: str,
                error_code: str | None, received_at: datetime) -> SmsEvent:
        """A delivery receipt for the message ``message_id`` sent to ``to``; ValidationError
        naming the field for a value that is not one."""
        phone, problem = normalise_phone(to)
        return cls.model_validate({
            "event_id": event_id(provider, "status", message_id, status, error_code),
            "kind": "status", "provider": provider, "provider_message_id": message_id,
            "phone_e164": phone, "phone_problem": problem, "status": status,
            "error_code": error_code, "received_at": received_at})

    @classmethod
    def inbound(cls, *, provider: Provider, message_id: str, sender: str, body: str,
                received_at: datetime) -> SmsEvent:
        """A message ``sender`` sent us, with what it means (``classify_reply``)."""
        phone, problem = normalise_phone(sender)
        return cls.model_validate({
            "event_id": event_id(provider, "inbound", message_id),
            "kind": "inbound", "provider": provider, "provider_message_id": message_id,
            "phone_e164": phone, "phone_problem": problem, "body": body,
            "reply_kind": classify_reply(body).kind, "received_at": received_at})

    def line(self) -> bytes:
        return self.model_dump_json().encode() + b"\n"


SMS_EVENT_SCHEMA = pl.Schema({
    "event_id": pl.String, "kind": pl.String, "provider": pl.String,
    "provider_message_id": pl.String, "phone_e164": pl.String, "phone_problem": pl.String,
    "status": pl.String, "error_code": pl.String, "body": pl.String, "reply_kind": pl.String,
    "received_at": pl.Datetime("us", "UTC"),
})


def parse_events(data: bytes) -> tuple[pl.DataFrame, list[dict]]:
    """A ``landing/sms_events`` file's lines as SMS_EVENT_SCHEMA rows, in file order (a
    repeated ``event_id`` is kept: the store's insert ignores what it has), and a problem per
    line that is not an SmsEvent, naming its line and field."""
    numbered, problems = model_lines(data, SmsEvent, "one SmsEvent JSON object per line "
                                     "(core/sms/events.py)")
    rows = [{**event.model_dump(mode="python"), "received_at": event.received_at.astimezone(UTC)}
            for _, event in numbered]
    return pl.DataFrame(rows, schema=SMS_EVENT_SCHEMA), problems
