"""The legacy campaigns REST API: requests into the landing zone, reads from the warehouse.

- ``POST /campaigns/create``: the legacy request body, validated as ``CampaignRequest`` (422
  naming each field), written whole to ``landing/campaigns/<key>.json`` (temp, fsync, rename)
  and answered ``202 {"status": "accepted", "campaign_key"}``; the campaigns sensor admits
  it. The key is the campaign name's (``adapters/admission.campaign_key``), or
  ``request-<sha256[:12]>`` of the body when the name gives none, so a resent request lands
  once, and a changed request under a live campaign's name meets the admission rule (refused
  unless it says ``replaces``). A different request still waiting under the same key: 409.
- ``DELETE /campaigns/{code}``: a command file ``landing/commands/delete-<code>-<UTC>.json``
  (``{"command": "delete", "campaign_code", "requested_at"}``), answered 202.
- ``GET /campaigns`` (legacy ``/campaigns/list``; ``?type=RB1|RB3&limit=50&offset=0&
  include_deleted=false``, limit at most 1000), ``GET /campaigns/{code}``, ``GET
  /campaigns/next-code?type=RB1|RB3`` (legacy ``/campaigns/codes/next-rb1|rb3``): exactly
  the JSON ``campaigns list``, ``show`` and ``next-code`` print, from the same functions
  (``campaign_reads.py``). next-code previews (``preview_codes``): it allocates nothing.
  A bad query value or an unknown parameter: 422 naming it; an unknown code: 404.

The ingress never opens the warehouse for writing. A read opens it read-only (DuckDB
``read_only=True``, Oracle with reads only) for one request, in a worker thread, and closes it
before answering; the warehouse module, its driver and the settings (``defs/settings.py``, the
ones the CLI reads) are loaded on the first read, once per worker, so a worker that only takes
webhooks never loads them. A DuckDB reader and a writer exclude each other: a read waits at
most ``READ_LOCK_WAIT_S`` for a writer (a deploying run) and then answers 503 with
``Retry-After`` naming the lock's holder; a deployment waits (its own bounded lock wait) for
the few milliseconds a read holds the file. No warehouse file, or one made by an older
version: 503 naming the fix.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from campaign_pipelines.adapters.admission import campaign_key
from campaign_pipelines.adapters.landing import LandingError, LandingZone
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.requests import (
    MAX_REQUEST_BYTES,
    RequestError,
    describe_validation_error,
    request_from,
)
from campaign_pipelines.ingress.answers import (
    authenticate,
    authenticated_body,
    authenticated_json,
    json_response,
    not_stored,
    rejected,
)
from campaign_pipelines.ingress.body import Refusal

log = logging.getLogger("campaign_pipelines.ingress")
router = APIRouter(prefix="/campaigns")
Q = TypeVar("Q", bound=BaseModel)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@router.post("/create", status_code=202)
async def create(request: Request) -> Response:
    ingress = request.app.state.ingress
    try:
        body, value = await authenticated_json(request, ingress, MAX_REQUEST_BYTES)
        try:
            parsed = request_from(value)
        except RequestError as error:
            raise Refusal.listing(422, error.problems) from None
    except Refusal as refusal:
        return rejected(refusal)
    key = _key(parsed.metadata.campaign_name, body)
    landing = LandingZone(ingress.settings.landing)
    try:
        await asyncio.to_thread(landing.write_atomic, "campaigns", f"{key}.json", body)
    except FileExistsError:
        problem = f"a different request under the key {key!r} is still waiting to be processed"
        fix = "wait for it to be processed, then send this one with \"replaces\": the key"
        return rejected(Refusal(409, "metadata.campaign_name", problem, fix))
    except LandingError as error:
        return not_stored(error)
    return json_response({"status": "accepted", "campaign_key": key}, 202)


@router.delete("/{code}", status_code=202)
async def delete(code: str, request: Request) -> Response:
    ingress = request.app.state.ingress
    try:
        await authenticated_body(request, ingress, ingress.settings.ingress_max_body_bytes)
        if not _CODE.fullmatch(code):  # match's $ would let a final newline into the name
            raise _not_a_code()
    except Refusal as refusal:
        return rejected(refusal)
    now = datetime.now(UTC)
    command = {"command": "delete", "campaign_code": code, "requested_at": now.isoformat()}
    name = f"delete-{code}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    landing = LandingZone(ingress.settings.landing)
    try:
        await asyncio.to_thread(landing.write_atomic, "commands", name, orjson.dumps(command))
    except LandingError as error:
        return not_stored(error)
    return json_response({"status": "accepted", "command": "delete", "campaign_code": code,
                              "file": name}, 202)


# --- reads: the warehouse opened read-only, for one request --------------------------------

MAX_LIMIT = 1000
# A reader waits this long, at most, for a writer's lock before answering 503.
READ_LOCK_WAIT_S = 1.0
RETRY_AFTER_S = 5


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["RB1", "RB3"] | None = None
    limit: int = Field(default=50, ge=0, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0)
    include_deleted: bool = False

    _upper = field_validator("type", mode="before")(_upper)


class CodeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["RB1", "RB3"]

    _upper = field_validator("type", mode="before")(_upper)


class NoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


async def list_campaigns(request: Request) -> Response:
    """`campaigns list` (``?type=RB1|RB3&limit=50&offset=0&include_deleted=false``)."""

    def read(reads: Any, deployment: Any, query: ListQuery) -> dict:
        return reads.campaigns_page(deployment, campaign_type=query.type, limit=query.limit,
                                    offset=query.offset, include_deleted=query.include_deleted)

    return await _answer(request, ListQuery, read)


async def next_code(request: Request) -> Response:
    """`campaigns next-code TYPE` (``?type=RB1|RB3``): a preview, nothing allocated."""
    return await _answer(request, CodeQuery,
                         lambda reads, deployment, q: reads.next_code_preview(deployment, q.type))


def _next_code_of(kind: str):
    async def answer(request: Request) -> Response:
        return await _answer(request, NoQuery,
                             lambda reads, deployment, q: reads.next_code_preview(deployment, kind))

    return answer


async def show_campaign(code: str, request: Request) -> Response:
    """`campaigns show CODE`; 404 for a code no campaign has."""
    return await _answer(request, NoQuery,
                         lambda reads, deployment, q: reads.campaign_shown(deployment, code),
                         code=code)


router.add_api_route("", list_campaigns, methods=["GET"])
router.add_api_route("/list", list_campaigns, methods=["GET"], include_in_schema=False)
router.add_api_route("/next-code", next_code, methods=["GET"])
router.add_api_route("/codes/next-rb1", _next_code_of("RB1"), methods=["GET"],
                     include_in_schema=False)
router.add_api_route("/codes/next-rb3", _next_code_of("RB3"), methods=["GET"],
                     include_in_schema=False)
router.add_api_route("/{code}", show_campaign, methods=["GET"])


async def _answer(request: Request, model: type[Q], read: Callable[[Any, Any, Q], dict],
                  code: str | None = None) -> Response:
    try:
        authenticate(request, request.app.state.ingress, b"")
        query = _query(request, model)
        if code is not None and not _CODE.fullmatch(code):
            raise _not_a_code()
        body = await asyncio.to_thread(_read, request.app.state, read, query)
    except Refusal as refusal:
        answer = rejected(refusal)
        if refusal.status == 503:
            answer.headers["Retry-After"] = str(RETRY_AFTER_S)
        return answer
    return Response(body, 200, media_type="application/json")


def _query(request: Request, model: type[Q]) -> Q:
    """The query string as ``model``; Refusal(422) naming each field given twice or wrong."""
    params = request.query_params
    twice = sorted({key for key in params if len(params.getlist(key)) > 1})
    if twice:
        raise Refusal.listing(422, [{"field": key, "problem": "given more than once",
                                     "fix": "give it once"} for key in twice])
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        raise Refusal.listing(422, describe_validation_error(error)) from None


def _read(state: Any, read: Callable[[Any, Any, Q], dict], query: Q) -> bytes:
    """In a worker thread: the answer's JSON, the warehouse open only while it is read.
    The warehouse module (and its driver) is loaded on the first read, its settings read once
    per worker (``state.campaign_reads``)."""
    from campaign_pipelines import campaign_reads as reads

    try:
        with reads.said():
            deployment = getattr(state, "campaign_reads", None)
            if deployment is None:
                from campaign_pipelines.defs.settings import read_settings

                deployment = reads.read_only_deployment(
                    read_settings(), READ_LOCK_WAIT_S, state.ingress.settings
                )
                state.campaign_reads = deployment
            return reads.as_json(read(reads, deployment, query)).encode()
    except reads.UnknownCampaign as unknown:
        raise Refusal(404, "campaign_code", unknown.problem, unknown.fix) from None
    except reads.Unavailable as unavailable:
        log.warning("a campaigns read was not answered: %s", masked(str(unavailable)))
        raise Refusal(503, "<warehouse>", unavailable.problem, unavailable.fix) from None


def _not_a_code() -> Refusal:
    return Refusal(422, "campaign_code", "not a campaign code or key",
                   "send e.g. C000000123, KKB_0042 or the campaign key")


def _key(name: str, body: bytes) -> str:
    try:
        return campaign_key(f"{name}.json")
    except RequestError:
        return f"request-{hashlib.sha256(body).hexdigest()[:12]}"
