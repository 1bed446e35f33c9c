"""SMS over HTTP: the provider's webhooks in, and the operators' pause, resume and cancel.

- ``POST /webhooks/sms/status`` (a delivery receipt: ``MessageSid``, ``MessageStatus``, ``To``,
  optional ``ErrorCode``) and ``POST /webhooks/sms/inbound`` (a message to one of our numbers:
  ``MessageSid``, ``From``, ``Body``) take Twilio's form fields
  (``application/x-www-form-urlencoded``; the other fields Twilio sends, ``AccountSid``,
  ``SmsStatus``, ``NumMedia``..., are ignored). Each becomes one ``SmsEvent`` line
  (core/sms/events.py) in ``landing/sms_events`` through a durable journal (``journal.py``,
  as the signups), and is answered only once the line is on disk: the receipt ``204``, the
  inbound message ``200`` with an empty TwiML ``<Response/>`` (no auto-reply: Twilio answers
  STOP and START itself on its numbers, and our suppression list acts on them either way).
- ``POST /sms/campaigns/{name}/pause``, ``/resume`` and ``/cancel``: a command file
  ``landing/commands/sms_<action>-<name>-<UTC>.json`` (``{"command": "sms_pause", "campaign",
  "requested_at"}``, core/commands.py), as ``DELETE /campaigns/{code}`` writes its own,
  answered ``202 {"status": "accepted", "command", "campaign", "file"}``;
  ``command_arrivals_sensor`` applies it. The name follows the campaign file's rule
  (``core/sms/campaign.NAME``, matched whole): anything else is 422 naming ``campaign``.

Authentication. The commands take the project's own (bearer token or HMAC signature,
``auth.py``). The webhooks take Twilio's ``X-Twilio-Signature`` when ``TWILIO_AUTH_TOKEN`` is
set, and then nothing else: a missing or forged signature is 401, whatever other header
comes with it. The signature covers the URL Twilio called, which behind a load balancer or a
TLS proxy is not the URL this process sees (``http://10.0.0.5:8000/...`` for
``https://hooks.bank.kz/...``); so the URL checked is ``CAMPAIGN_PUBLIC_URL`` (the ingress as
the outside world calls it, with any path prefix the proxy strips; the runner builds its
``StatusCallback`` from the same variable) followed by the request's path and query string,
never the Host or X-Forwarded-* headers a caller could choose. Without ``TWILIO_AUTH_TOKEN``
the webhooks take the project's own authentication (a loopback or outbox provider, another
gateway), and the events say ``provider: project``.

Order of the checks, as ``body.py`` gives them: the size (413), the caller (401), the media
type (415), UTF-8 and no field given twice (400, 422), the fields (422 naming each). Nothing
is written for a refusal. The access log shows the path only: no number, no message text.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from campaign_pipelines.adapters.landing import LandingError, LandingZone
from campaign_pipelines.adapters.sms.twilio_signature import SIGNATURE_HEADER, valid_signature
from campaign_pipelines.core.commands import SMS_COMMAND_MODELS
from campaign_pipelines.core.requests import describe_validation_error
from campaign_pipelines.core.sms.campaign import NAME
from campaign_pipelines.core.sms.events import (
    ERROR_CODE,
    MESSAGE_ID,
    Provider,
    ReceiptStatus,
    SmsEvent,
)
from campaign_pipelines.ingress.answers import (
    Ingress,
    authenticate,
    authenticated_body,
    json_response,
    not_stored,
    rejected,
)
from campaign_pipelines.ingress.body import Refusal, read_capped
from campaign_pipelines.ingress.journal import Journal, JournalError

STATUS_PATH, INBOUND_PATH = "/webhooks/sms/status", "/webhooks/sms/inbound"
FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_NUMBER_CHARS = 64
router = APIRouter()


def sms_events_journal(landing: Path, **options: Any) -> Journal:
    """The worker's journal of ``landing/sms_events`` (``app.py`` starts and closes it)."""
    return Journal(landing / "sms_events", "sms_events", **options)


# --- the webhooks ---------------------------------------------------------------------------

def _matching(pattern: str, problem: str, fix: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and not re.fullmatch(pattern, value):
            raise PydanticCustomError("sms_form", problem, {"fix": fix})
        return value
    return AfterValidator(check)


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


SidText = Annotated[str, _matching(
    MESSAGE_ID, "is not a message id", "send the provider's message id, e.g. SM + 32 hex digits")]
NumberText = Annotated[str, _matching(
    rf"[^\x00-\x1f]{{1,{MAX_NUMBER_CHARS}}}", "is not a phone number",
    "send the number in E.164, e.g. +77012345678")]
ErrorCodeText = Annotated[str | None, BeforeValidator(_blank_is_none), _matching(
    ERROR_CODE, "is not an error code", "send the provider's numeric code, e.g. 30003")]


class _Form(BaseModel):
    # Twilio adds fields over time (AccountSid, ApiVersion, SmsStatus, NumMedia, FromCity...):
    # what the event does not need is ignored, never refused.
    model_config = ConfigDict(extra="ignore", frozen=True)

    MessageSid: SidText


F = TypeVar("F", bound=_Form)


class StatusForm(_Form):
    MessageStatus: ReceiptStatus
    To: NumberText
    ErrorCode: ErrorCodeText = None


class InboundForm(_Form):
    From: NumberText
    Body: str = ""  # a picture without text comes with an empty Body


@router.post(STATUS_PATH, status_code=204)
async def status_webhook(request: Request) -> Response:
    """A delivery receipt → one status line in landing/sms_events, then 204."""
    try:
        provider, form = await _webhook_form(request, StatusForm)
    except Refusal as refusal:
        return rejected(refusal)
    event = SmsEvent.receipt(provider=provider, message_id=form.MessageSid, to=form.To,
                             status=form.MessageStatus, error_code=form.ErrorCode,
                             received_at=datetime.now(UTC))
    return await _landed(request, event, Response(status_code=204))


@router.post(INBOUND_PATH)
async def inbound_webhook(request: Request) -> Response:
    """An inbound message → one inbound line (with its reply kind), then an empty TwiML."""
    try:
        provider, form = await _webhook_form(request, InboundForm)
    except Refusal as refusal:
        return rejected(refusal)
    event = SmsEvent.inbound(provider=provider, message_id=form.MessageSid, sender=form.From,
                             body=form.Body, received_at=datetime.now(UTC))
    return await _landed(request, event, Response(EMPTY_TWIML, 200, media_type="text/xml"))


async def _landed(request: Request, event: SmsEvent, answer: Response) -> Response:
    try:
        await request.app.state.sms_events.append(event.line())
    except JournalError as error:
        return not_stored(error)
    return answer


async def _webhook_form(request: Request, model: type[F]) -> tuple[Provider, F]:
    """Who vouched for the request and its validated form; Refusal otherwise (module
    docstring's order)."""
    ingress: Ingress = request.app.state.ingress
    body = await read_capped(request, ingress.settings.ingress_max_body_bytes)
    provider = _caller(request, ingress, body)
    fields = _form_fields(body, request.headers.get("content-type"))
    try:
        return provider, model.model_validate(fields)
    except ValidationError as error:
        raise Refusal.listing(422, describe_validation_error(error)) from None


def _caller(request: Request, ingress: Ingress, body: bytes) -> Provider:
    token = ingress.settings.twilio_auth_token
    if token is None:
        authenticate(request, ingress, body)
        return "project"
    signature = request.headers.get(SIGNATURE_HEADER) or ""
    # A header is latin-1 text; compare_digest refuses anything but ASCII with a TypeError.
    if signature.isascii() and valid_signature(token.get_secret_value(), public_url(request),
                                               _pairs(body), signature):
        return "twilio"
    problem = (f"{SIGNATURE_HEADER} is missing" if not signature else
               f"{SIGNATURE_HEADER} is not Twilio's signature of this request")
    fix = ("send the request from Twilio to the URL CAMPAIGN_PUBLIC_URL names (the URL Twilio "
           "signs must be the one the ingress checks)")
    raise Refusal(401, SIGNATURE_HEADER, problem, fix)


def public_url(request: Request) -> str:
    """The URL the provider called: CAMPAIGN_PUBLIC_URL, then the path and query as sent."""
    base = request.app.state.ingress.settings.public_url.rstrip("/")
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def _pairs(body: bytes) -> list[tuple[str, str]]:
    """The form's fields as signed (each value decoded); none when the body is not a form."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return []


def _form_fields(body: bytes, content_type: str | None) -> dict[str, str]:
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != FORM:
        raise Refusal(415, "Content-Type", f"the body is sent as {media or 'no media type'!r}, "
                      "not as a form", f"send the fields as 'Content-Type: {FORM}'")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise Refusal(400, "<body>", "the form is not UTF-8 text", "send UTF-8") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise Refusal(422, name, f"the field {name!r} is given twice", "keep one")
        fields[name] = value
    return fields


# --- pause, resume, cancel ------------------------------------------------------------------

Action = Literal["pause", "resume", "cancel"]
_COMMANDS = {model.lifecycle.value: model for model in SMS_COMMAND_MODELS}


async def _command(name: str, action: Action, request: Request) -> Response:
    ingress: Ingress = request.app.state.ingress
    try:
        await authenticated_body(request, ingress, ingress.settings.ingress_max_body_bytes)
        if not NAME.fullmatch(name):  # whole: NAME's $ alone would let a final newline in
            raise Refusal(422, "campaign", "not an SMS campaign name (1 to 64 lower-case "
                          "letters, digits, - and _, starting with a letter or digit)",
                          "give the name the campaign file has, e.g. dec-cashback")
    except Refusal as refusal:
        return rejected(refusal)
    now = datetime.now(UTC)
    command = {"command": f"sms_{action}", "campaign": name, "requested_at": now.isoformat()}
    _COMMANDS[action].model_validate(command)  # what the command parser will read
    file_name = f"sms_{action}-{name}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    try:
        await asyncio.to_thread(LandingZone(ingress.settings.landing).write_atomic, "commands",
                                file_name, orjson.dumps(command))
    except LandingError as error:
        return not_stored(error)
    return json_response({"status": "accepted", "command": command["command"],
                          "campaign": name, "file": file_name}, 202)


def _route(action: Action):
    async def answer(name: str, request: Request) -> Response:
        return await _command(name, action, request)

    answer.__name__ = f"sms_{action}"
    answer.__doc__ = f"A ``sms_{action}`` command for the campaign into landing/commands; 202."
    return answer


router.add_api_route("/sms/campaigns/{name}/pause", _route("pause"), methods=["POST"],
                     status_code=202)
router.add_api_route("/sms/campaigns/{name}/resume", _route("resume"), methods=["POST"],
                     status_code=202)
router.add_api_route("/sms/campaigns/{name}/cancel", _route("cancel"), methods=["POST"],
                     status_code=202)
