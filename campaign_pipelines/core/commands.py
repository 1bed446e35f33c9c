"""Commands: what an operator asks of a live campaign through ``landing/commands`` (the
ingress's ``DELETE /campaigns/{code}`` and ``POST /sms/campaigns/{name}/pause|resume|cancel``
write them).

A command file is one JSON object whose ``command`` field says which model reads the rest
(a discriminated union, ``Command``): adding a command is one model here and one entry in the
apply step's table (``defs/commands/jobs.py``), never a string compared elsewhere. Decisions:
- Unknown fields are refused (``extra="forbid"``), as in a campaign request: a misspelt field
  must not turn into a command that does something else.
- A key given twice is refused, as every parser of the project does (``unique_keys``); so is
  a file over ``MAX_COMMAND_BYTES`` (the ingress never writes one over a few hundred bytes),
  text that is not UTF-8, and anything but one object.
- ``campaign_code`` is what the ingress accepts in the URL (``CAMPAIGN_REF``: letters, digits,
  ``_`` and ``-``, 1 to 64): a CAMPAIGNCODE, an XLS_OW_ID or the campaign key
  (``core/registry.registry_code`` finds the campaign by any of the three).
- The SMS commands (``sms_pause``, ``sms_resume``, ``sms_cancel``) name the campaign by its
  ``campaign`` name, under the campaign file's rule (``core/sms/campaign.NAME``, matched whole:
  a final newline is refused), and carry the lifecycle command they ask for
  (``core/sms/lifecycle.Command``), which the store applies with the lifecycle's rules.
- ``requested_at`` is an aware time (an offset or ``Z``), for the record: commands are applied
  in the order their files arrived (``defs/commands/``), whatever time they say.
- No problem quotes the refused value (a code field may hold digits that look like an IIN).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.request_text import load_request_text
from campaign_pipelines.core.requests import describe_validation_error
from campaign_pipelines.core.sms.campaign import NAME as SMS_NAME
from campaign_pipelines.core.sms.lifecycle import Command as Lifecycle

# The same rule as the ingress's DELETE /campaigns/{code} (a test holds the two equal).
CAMPAIGN_REF = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_COMMAND_BYTES = 64 * 1024
_SHAPE_FIX = ('send one object such as {"command": "delete", "campaign_code": "C000000123", '
              '"requested_at": "2026-11-30T01:20:05+00:00"}')


def _campaign_ref(value: str) -> str:
    if not CAMPAIGN_REF.fullmatch(value):  # fullmatch: match's $ would let a final newline in
        raise PydanticCustomError(
            "campaign_ref", "is not a campaign code or key (letters, digits, _ and -; 1 to 64)",
            {"fix": "give the CAMPAIGNCODE (e.g. C000000123), the XLS_OW_ID (KKB_0042) or "
                    "the campaign key"})
    return value


CampaignRef = Annotated[str, AfterValidator(_campaign_ref)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requested_at: AwareDatetime


class DeleteCommand(_Command):
    """Remove the campaign's rows from the six deployment tables; the registry keeps it as
    Deleted (what ``campaigns delete CODE`` does)."""

    command: Literal["delete"]
    campaign_code: CampaignRef


def _sms_name(value: str) -> str:
    if not SMS_NAME.fullmatch(value):
        raise PydanticCustomError(
            "sms_campaign_name", "is not an SMS campaign name (1 to 64 lower-case letters, "
            "digits, - and _, starting with a letter or digit)",
            {"fix": "give the name the campaign file has, e.g. dec-cashback"})
    return value


SmsCampaignName = Annotated[str, AfterValidator(_sms_name)]


class _SmsCommand(_Command):
    campaign: SmsCampaignName
    lifecycle: ClassVar[Lifecycle]  # the lifecycle command the store applies


class SmsPauseCommand(_SmsCommand):
    """Pause an Active SMS campaign: its running send stops within 10 messages."""

    command: Literal["sms_pause"]
    lifecycle = Lifecycle.PAUSE


class SmsResumeCommand(_SmsCommand):
    """Resume a Paused SMS campaign: the runner's next tick sends the rest."""

    command: Literal["sms_resume"]
    lifecycle = Lifecycle.RESUME


class SmsCancelCommand(_SmsCommand):
    """Cancel a Scheduled, Active or Paused SMS campaign: nothing more is sent, ever."""

    command: Literal["sms_cancel"]
    lifecycle = Lifecycle.CANCEL


SmsCommand = SmsPauseCommand | SmsResumeCommand | SmsCancelCommand
SMS_COMMAND_MODELS: tuple[type[_SmsCommand], ...] = (
    SmsPauseCommand, SmsResumeCommand, SmsCancelCommand)
Command = Annotated[DeleteCommand | SmsCommand, Field(discriminator="command")]
COMMAND_MODELS: tuple[type[_Command], ...] = (DeleteCommand, *SMS_COMMAND_MODELS)
COMMAND_NAMES: tuple[str, ...] = tuple(
    name for model in COMMAND_MODELS for name in get_args(model.model_fields["command"].annotation))
_COMMAND: TypeAdapter[Command] = TypeAdapter(Command)


def parse_command(data: bytes) -> Command:
    """The command a file's bytes hold, or ProblemsError naming each field and its fix."""
    if len(data) > MAX_COMMAND_BYTES:
        raise ProblemsError([{"field": "<document>",
                              "problem": f"the file is {len(data)} bytes, more than the "
                                         f"{MAX_COMMAND_BYTES} a command may have",
                              "fix": "one command per file: " + _SHAPE_FIX}])
    try:
        text = data.decode("utf-8-sig")  # a BOM, as some editors save, is no mistake
    except UnicodeDecodeError as error:
        raise ProblemsError([{"field": "<document>",
                              "problem": f"not UTF-8 text (byte {error.start})",
                              "fix": "write the file as UTF-8 JSON"}]) from None
    if not text.strip():
        raise ProblemsError([{"field": "<document>", "problem": "the file is empty",
                              "fix": _SHAPE_FIX}])
    body = load_request_text(text)  # JSON syntax, duplicate keys (with their lines), depth
    if not isinstance(body, dict):
        raise ProblemsError([{"field": "<document>",
                              "problem": f"the document is a {type(body).__name__}, not an "
                                         "object",
                              "fix": _SHAPE_FIX}])
    try:
        return _COMMAND.validate_python(body)
    except ValidationError as error:
        raise ProblemsError(_described(error)) from None


def _described(error: ValidationError) -> list[dict[str, str]]:
    """``describe_validation_error``'s problems, with the union's own two refusals (no
    ``command``, an unknown one) named by the ``command`` field and the commands there are."""
    known = ", ".join(COMMAND_NAMES)
    problems = []
    for item, problem in zip(error.errors(include_url=False),
                             describe_validation_error(error), strict=True):
        if item["type"] == "union_tag_not_found":
            problem = {"field": "command", "problem": "missing",
                       "fix": f"add \"command\": one of {known}"}
        elif item["type"] == "union_tag_invalid":
            problem = {"field": "command", "problem": "is not a command this pipeline knows",
                       "fix": f"use one of: {known}"}
        elif item["loc"] and item["loc"][0] in COMMAND_NAMES:  # the union's tag leads the path
            problem = {**problem, "field": ".".join(map(str, item["loc"][1:])) or "<document>"}
            if item["type"].startswith(("datetime", "timezone")):
                problem["fix"] = ("write an ISO time with its offset, e.g. "
                                  "2026-11-30T01:20:05+00:00")
        problems.append(problem)
    return problems
