"""The SMS campaign file (``landing/sms/*.yaml|json``, ``campaigns sms create FILE``) as a
validated model, and its parsing from the bytes that arrived.

Decisions:
- The text is read by core/request_text.py, the loader every request file goes through:
  duplicate keys refused naming both lines, YAML 1.2 core typing (``on``/``no`` stay text),
  anchors and aliases refused before anything is built. ``.json`` files are JSON, ``.yaml``/
  ``.yml`` YAML, any other name by its first character (``{`` is JSON). At most
  MAX_CAMPAIGN_FILE_BYTES, checked before decoding; UTF-8 (a BOM is allowed).
- Unknown fields are refused, as in campaign requests. Identifiers (name, sender,
  campaign_code, upload) and times must be text: a YAML ``7575`` or ``2026`` is refused with
  "write it in quotes", never turned into a number and back.
- ``name`` is lower-case letters, digits, ``-`` and ``_``, 1..64 characters, starting with a
  letter or digit: it names the campaign in commands, URLs, file names and idempotency keys.
- ``sender`` is an alphanumeric sender ID (1..11 ASCII letters, digits or spaces, at least one
  letter), a short code (3..8 digits), an E.164 number, or a Twilio Messaging Service SID.
- ``start_at``/``end_at`` are ISO 8601 with an offset (``Z`` or ``+05:00``); a time without
  one is refused, never guessed. They are kept in UTC. ``end_at`` must be after ``start_at``
  and, when parsed, not passed already. A ``start_at`` in the past is no error: the campaign
  starts at the next runner tick, and the parse says so in ``notes``.
- ``prospects`` names exactly one source: ``campaign_code`` (``C`` and 9 digits, a deployed
  campaign's target group) or ``upload`` (a plain file name in landing/uploads: no folders).
- ``throttle_per_second`` (optional) is a number above 0 and at most MAX_THROTTLE.
- The template is checked as core/sms/template.py says, with its problems in the same list.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.request_text import load_request_text
from campaign_pipelines.core.requests import describe_validation_error
from campaign_pipelines.core.sms.template import DEFAULT_MAX_SEGMENTS, Message, check_template

MAX_CAMPAIGN_FILE_BYTES = 64 * 1024
MAX_THROTTLE = 1000.0
FIRST_TIME, LAST_TIME = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 12, 31, tzinfo=UTC)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CAMPAIGN_CODE = re.compile(r"^C[0-9]{9}$")
UPLOAD = re.compile(r"^(?!\.)[^/\\\x00-\x1f]{1,200}\.(csv|txt|xlsx|parquet)$", re.IGNORECASE)
SENDER = re.compile(
    r"^(?:(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9 ]{1,11}"  # alphanumeric sender ID
    r"|[0-9]{3,8}"  # short code
    r"|\+[1-9][0-9]{7,14}"  # E.164 number
    r"|MG[0-9a-f]{32})$"  # Twilio Messaging Service SID
)


def _refusal(problem: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("sms_campaign", problem, {"fix": fix})


_KINDS = {bool: "a boolean", int: "a number", float: "a number", dict: "a mapping",
          list: "a list", type(None): "empty"}


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise _refusal(f"is {_KINDS.get(type(value), type(value).__name__)}, not text",
                       'write it in quotes, e.g. "7575" or "2026-12-01T09:00:00+05:00"')
    return value


def _matching(pattern: re.Pattern, what: str, fix: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not pattern.fullmatch(_text(value)):  # match's $ lets a final newline in
            raise _refusal(f"is not {what}", fix)
        return value
    return BeforeValidator(check)


def _moment(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(_text(value).strip())
    except ValueError:
        raise _refusal("is not an ISO 8601 date and time",
                       "write it as 2026-12-01T09:00:00+05:00") from None
    if moment.tzinfo is None:
        raise _refusal("has no UTC offset, so the moment it means is unknown",
                       "add the offset, e.g. 2026-12-01T09:00:00+05:00 for Almaty")
    if not FIRST_TIME <= moment <= LAST_TIME:
        raise _refusal("is outside the years 2000..2100", "use a time in 2000..2100")
    return moment.astimezone(UTC)


def _rate(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value <= MAX_THROTTLE):
        raise _refusal(f"is not a number of messages per second above 0 and at most "
                       f"{MAX_THROTTLE:g}", "write e.g. 10, or leave it out for no limit")
    return value


Name = Annotated[str, _matching(
    NAME, "a campaign name", "use 1..64 lower-case letters, digits, - or _ (e.g. dec-cashback)")]
Sender = Annotated[str, _matching(
    SENDER, "a sender ID, short code, E.164 number or Messaging Service SID",
    'use e.g. "MyBank" (at most 11 letters, digits or spaces), "7575" or "+77012345678"')]
Moment = Annotated[datetime, BeforeValidator(_moment)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prospects(_Strict):
    campaign_code: Annotated[str, _matching(
        CAMPAIGN_CODE, "a campaign code", "write C and 9 digits, e.g. C000000123")] | None = None
    upload: Annotated[str, _matching(
        UPLOAD, "a file name in landing/uploads",
        "name a .csv, .txt, .xlsx or .parquet file in landing/uploads, without folders")
    ] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Prospects:
        if (self.campaign_code is None) == (self.upload is None):
            given = "both" if self.campaign_code else "neither"
            raise _refusal(f"names {given} of campaign_code and upload",
                           "give exactly one: campaign_code: C000000123 or upload: list.csv")
        return self


class SmsCampaign(_Strict):
    name: Name
    template: Annotated[str, BeforeValidator(_text)]
    sender: Sender
    start_at: Moment
    end_at: Moment | None = None
    prospects: Prospects
    throttle_per_second: Annotated[float, BeforeValidator(_rate)] | None = None

    @field_validator("end_at")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start_at")
        if value is not None and start is not None and value <= start:
            raise _refusal(f"{value.isoformat()} is not after start_at {start.isoformat()}",
                           "set end_at after start_at, or leave it out")
        return value


@dataclass(frozen=True)
class CampaignFile:
    campaign: SmsCampaign
    sample: Message  # the template rendered with the longest plausible values
    version: str
    notes: list[str] = field(default_factory=list)


def campaign_version(campaign: SmsCampaign) -> str:
    """sha256 of the campaign's canonical JSON, 16 hex digits: the same content gives the
    same version whatever the file's format, spelling or time offsets."""
    return hashlib.sha256(campaign.model_dump_json().encode("utf-8")).hexdigest()[:16]


def _document(data: bytes, file_name: str) -> Any:
    if len(data) > MAX_CAMPAIGN_FILE_BYTES:
        raise ProblemsError([{"field": "<document>", "problem": f"the file is {len(data)} "
                              f"bytes, more than {MAX_CAMPAIGN_FILE_BYTES}",
                              "fix": "an SMS campaign file holds a few fields: remove the rest"}])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProblemsError([{"field": "<document>", "problem": f"not UTF-8 text (byte "
                              f"{error.start})", "fix": "save the file as UTF-8"}]) from None
    suffix = file_name.lower().rpartition(".")[2]
    yaml_syntax = suffix in ("yaml", "yml") or (
        suffix != "json" and not text.lstrip().startswith("{"))
    return load_request_text(text, yaml_syntax=yaml_syntax)


def parse_campaign(data: bytes, file_name: str, *, now: datetime, stop_hint: str,
                   max_segments: int = DEFAULT_MAX_SEGMENTS) -> CampaignFile:
    """The campaign in ``data`` (from a file named ``file_name``) as of ``now``, or
    ProblemsError naming the file, every bad field and its fix."""
    try:
        document = _document(data, file_name)
        if not isinstance(document, dict):
            raise ProblemsError([{"field": "<document>", "problem": "the file is not a mapping "
                                  "of campaign fields", "fix": "write name: ..., template: ..., "
                                  "sender: ..., start_at: ..., prospects: ..."}])
        campaign = SmsCampaign.model_validate(document)
    except ProblemsError as error:
        raise ProblemsError(error.problems, file_name) from None
    except ValidationError as error:
        raise ProblemsError(describe_validation_error(error), file_name) from None
    problems, notes = [], []
    if campaign.end_at is not None and campaign.end_at <= now:
        problems.append({"field": "end_at", "problem": f"{campaign.end_at.isoformat()} has "
                         "passed already", "fix": "set an end_at in the future or leave it out"})
    if campaign.start_at < now:
        notes.append(f"start_at {campaign.start_at.isoformat()} is in the past: the campaign "
                     "starts now (at the runner's next tick)")
    try:
        sample = check_template(campaign.template, campaign=campaign.name, stop_hint=stop_hint,
                                max_segments=max_segments)
    except ProblemsError as error:
        problems.extend(error.problems)
    if problems:
        raise ProblemsError(problems, file_name)
    return CampaignFile(campaign, sample, campaign_version(campaign), notes)
