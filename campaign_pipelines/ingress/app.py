"""The ingress's FastAPI app: webhooks in, landing files out (DESIGN.md §3 "Ingress").

Run it with ``campaigns serve`` (``serve.py``). Each worker process builds its own app through
``create_app`` (settings read then, never at import) with its own journals (``journal.py``):
``landing/signups``, ``landing/unsubscribes`` and ``landing/sms_events`` (``sms.py``). The app
never opens the warehouse for writing (the campaign reads open it read-only, per request:
campaigns_api.py) and never imports Dagster: a webhook's latency depends on the landing
folder's disk only.

Every answer other than success is JSON ``{"status": "rejected", "message", "problems":
[{field, problem, fix}]}``; a signup is answered ``202 {"status": "accepted", "signup_id"}``
only once its line is durable (``journal.py``). The access log is one JSON line per request
on stderr (logger ``campaign_pipelines.ingress.access``): method, path (masked), status, ms
and the signup id; never a body, a query string, an address or a header.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import orjson
from fastapi import FastAPI, Request, Response

from campaign_pipelines.adapters.storage import unreachable
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.sequences.signups import Signup, SignupRecord
from campaign_pipelines.ingress.answers import (
    Ingress,
    authenticated_json,
    json_response,
    not_stored,
    rejected,
)
from campaign_pipelines.ingress.auth import Authenticator
from campaign_pipelines.ingress.body import Refusal, validated
from campaign_pipelines.ingress.campaigns_api import router as campaigns_router
from campaign_pipelines.ingress.journal import Journal, JournalError
from campaign_pipelines.ingress.settings import IngressSettings, read_ingress_settings
from campaign_pipelines.ingress.sms import router as sms_router
from campaign_pipelines.ingress.sms import sms_events_journal
from campaign_pipelines.ingress.unsubscribe import router as unsubscribe_router

log = logging.getLogger("campaign_pipelines.ingress")
access_log = logging.getLogger("campaign_pipelines.ingress.access")


def create_app(settings: IngressSettings | None = None) -> FastAPI:
    """The app (uvicorn calls it as a factory, once per worker)."""
    settings = settings or read_ingress_settings()
    _log_to_stderr()
    journal_options = {
        "rotate_seconds": settings.ingress_rotate_seconds,
        "rotate_records": settings.ingress_rotate_records,
        "recover_seconds": settings.ingress_recover_seconds,
    }
    ingress = Ingress(
        settings=settings,
        auth=Authenticator(settings.ingress_token, settings.ingress_hmac_secret),
        signups=Journal(settings.landing / "signups", "signups", **journal_options),
        unsubscribes=Journal(settings.landing / "unsubscribes", "unsubscribes", **journal_options),
    )
    sms_events = sms_events_journal(settings.landing, **journal_options)
    journals = (ingress.signups, ingress.unsubscribes, sms_events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for journal in journals:
            for path in await journal.start():
                log.warning("completed the journal of a stopped worker: %s", path.name)
        # Everything loaded so far lives as long as the worker: out of the collector's sight,
        # a full collection walks only what requests allocate (tens of ms less at p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for journal in journals:
                await journal.close()

    app = FastAPI(title="campaign_pipelines ingress", lifespan=lifespan)
    app.state.ingress = ingress
    app.state.sms_events = sms_events
    app.add_middleware(AccessLog)
    app.add_api_route("/webhooks/signups", post_signup, methods=["POST"], status_code=202)
    app.add_api_route("/webhook/christmas-signup", post_signup, methods=["POST"], status_code=202,
                      include_in_schema=False)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/ready", ready, methods=["GET"])
    app.include_router(unsubscribe_router)
    app.include_router(campaigns_router)
    app.include_router(sms_router)
    return app


async def post_signup(request: Request) -> Response:
    """A signup: validated, made durable in landing/signups, then 202."""
    ingress: Ingress = request.app.state.ingress
    try:
        signup = validated(Signup, (await authenticated_json(request, ingress))[1])
    except Refusal as refusal:
        return rejected(refusal)
    signup_id = str(uuid.uuid4())
    record = SignupRecord.model_construct(
        signup_id=signup_id, received_at=datetime.now(UTC), signup=signup
    )
    try:
        await ingress.signups.append(record.model_dump_json().encode() + b"\n")
    except JournalError as error:
        return not_stored(error)
    request.state.signup_id = signup_id
    return json_response({"status": "accepted", "signup_id": signup_id}, 202)


async def health(request: Request) -> Response:
    """What runs and what is configured, never a secret's value."""
    settings: IngressSettings = request.app.state.ingress.settings
    body = {
        "status": "ok",
        "sequence_timing": settings.sequence_timing,
        "integrations": {
            "email_provider": settings.email_provider,
            "alert_webhook": settings.alert_webhook_url is not None,
            "tracking_sink": "notion" if settings.notion_token is not None else None,
        },
        "authentication": {
            "bearer": settings.ingress_token is not None,
            "hmac_signature": settings.ingress_hmac_secret is not None,
            "twilio_signature": settings.twilio_auth_token is not None,
        },
        "unsubscribe": settings.unsubscribe_secret is not None,
    }
    return json_response(body, 200)


async def ready(request: Request) -> Response:
    """Whether requests can be landed now (the landing zone's folder or bucket answers): the
    readiness probe. 503 with the reason otherwise, so a load balancer sends them elsewhere;
    /health stays the liveness probe, which a store's outage must not restart."""
    settings: IngressSettings = request.app.state.ingress.settings
    problem = await asyncio.to_thread(unreachable, settings.landing)
    if problem is None:
        return json_response({"status": "ready"}, 200)
    return json_response({"status": "not ready", "problem": problem}, 503, {"Retry-After": "5"})


class AccessLog:
    """Pure ASGI middleware (no per-request task or body copy): one JSON line per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            line = {
                "method": scope["method"],
                "path": masked(scope["path"]),
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "signup_id": scope.get("state", {}).get("signup_id"),
            }
            access_log.info(orjson.dumps(line).decode())


def _log_to_stderr() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
