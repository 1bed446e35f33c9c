"""What every ingress endpoint shares: the worker's state, the caller's authentication, and the
shape of an answer (JSON; a refusal is ``{"status": "rejected", "message", "problems"}``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from fastapi import Request, Response

from campaign_pipelines.core.masking import masked
from campaign_pipelines.ingress.auth import Authenticator
from campaign_pipelines.ingress.body import Refusal, json_value, read_capped
from campaign_pipelines.ingress.journal import Journal
from campaign_pipelines.ingress.settings import IngressSettings

log = logging.getLogger("campaign_pipelines.ingress")


@dataclass
class Ingress:
    """What the handlers share in one worker."""

    settings: IngressSettings
    auth: Authenticator
    signups: Journal
    unsubscribes: Journal


def json_response(body: dict, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def rejected(refusal: Refusal) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in refusal.problems)
    body = {"status": "rejected", "message": message, "problems": refusal.problems}
    return json_response(body, refusal.status, headers)


def not_stored(error: OSError) -> Response:
    # The error may name the landed file, whose name comes from what the caller sent.
    log.error("a request was refused, its line could not be made durable: %s", masked(str(error)))
    body = {"status": "rejected", "message": "not stored: the landing folder refused the write",
            "problems": [{"field": "<server>", "problem": "the ingress cannot store it now",
                          "fix": "send it again later"}]}
    return json_response(body, 503, {"Retry-After": "5"})


def authenticate(request: Request, ingress: Ingress, body: bytes) -> None:
    """Refusal(401) unless the caller sent the bearer token or signed ``body``."""
    if refusal := ingress.auth.refusal(request.headers, body):
        raise Refusal(401, "Authorization", refusal, "see the README's ingress section")


async def authenticated_body(request: Request, ingress: Ingress, limit: int) -> bytes:
    """The raw body from an authenticated caller; Refusal (413, 401) otherwise."""
    body = await read_capped(request, limit)
    authenticate(request, ingress, body)
    return body


async def authenticated_json(
    request: Request, ingress: Ingress, limit: int | None = None
) -> tuple[bytes, object]:
    """The raw body and its JSON value, from an authenticated caller; Refusal otherwise."""
    limit = limit or ingress.settings.ingress_max_body_bytes
    body = await authenticated_body(request, ingress, limit)
    return body, json_value(body, request.headers.get("content-type"))
