"""The legacy campaigns REST API, over the landing zone: requests in, answers from the CLI.

- ``POST /campaigns/create``: the legacy request body, validated as ``CampaignRequest`` (422
  naming each field), written whole to ``landing/campaigns/<key>.json`` (temp, fsync, rename)
  and answered ``202 {"status": "accepted", "campaign_key"}``; the campaigns sensor admits
  it. The key is the campaign name's (``adapters/admission.campaign_key``), or
  ``request-<sha256[:12]>`` of the body when the name gives none, so a resent request lands
  once, and a changed request under a live campaign's name meets the admission rule (refused
  unless it says ``replaces``). A different request still waiting under the same key: 409.
- ``DELETE /campaigns/{code}``: a command file ``landing/commands/delete-<code>-<UTC>.json``
  (``{"command": "delete", "campaign_code", "requested_at"}``), answered 202.
- ``GET /campaigns``, ``GET /campaigns/{code}``, ``GET /campaigns/next-code`` and the legacy
  ``/campaigns/list`` and ``/campaigns/codes/next-rb1|rb3``: 501 naming the command that
  answers them (``campaigns list``, ``show``, ``next-code``): answering would mean reading the
  warehouse, which the ingress never opens.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from campaign_pipelines.adapters.admission import campaign_key
from campaign_pipelines.adapters.landing import LandingError, LandingZone
from campaign_pipelines.core.requests import (
    MAX_REQUEST_BYTES,
    CampaignRequest,
    RequestError,
    describe_validation_error,
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

router = APIRouter(prefix="/campaigns")
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@router.post("/create", status_code=202)
async def create(request: Request) -> Response:
    ingress = request.app.state.ingress
    try:
        body, value = await authenticated_json(request, ingress, MAX_REQUEST_BYTES)
        if not isinstance(value, dict):
            raise Refusal(422, "<request>", "the body is not an object of request fields",
                          "send an object with campaign_type, metadata and user_iins")
        try:
            parsed = CampaignRequest.model_validate(value)
        except ValidationError as error:
            raise Refusal.listing(422, describe_validation_error(error)) from None
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
            raise Refusal(422, "campaign_code", "not a campaign code or key",
                          "send e.g. C000000123, KKB_0042 or the campaign key")
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


_READS = {
    "": "campaigns list [--type RB1] [--limit 50] [--offset 0]",
    "/list": "campaigns list [--type RB1] [--limit 50] [--offset 0]",
    "/next-code": "campaigns next-code rb1|rb3",
    "/codes/next-rb1": "campaigns next-code rb1",
    "/codes/next-rb3": "campaigns next-code rb3",
}


def _not_served(command: str):
    async def answer(request: Request) -> Response:
        try:
            authenticate(request, request.app.state.ingress, b"")
        except Refusal as refusal:
            return rejected(refusal)
        problem = "the ingress does not read the warehouse"
        return rejected(Refusal(501, "<endpoint>", problem, f"run `{command}`"))

    return answer


for _path, _command in _READS.items():
    router.add_api_route(_path, _not_served(_command), methods=["GET"])
router.add_api_route("/{code}", _not_served("campaigns show CODE"), methods=["GET"])


def _key(name: str, body: bytes) -> str:
    try:
        return campaign_key(f"{name}.json")
    except RequestError:
        return f"request-{hashlib.sha256(body).hexdigest()[:12]}"
