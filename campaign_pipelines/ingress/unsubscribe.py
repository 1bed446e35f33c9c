"""Unsubscribe: the link in every e-mail, and the RFC 8058 one-click POST mail clients send.

``GET /unsubscribe?token=…`` (the link, source ``link``) and ``POST /unsubscribe?token=…`` with
the form body ``List-Unsubscribe=One-Click`` (source ``one-click``) both suppress the token's
recipient for every sequence: one ``UnsubscribeLine`` (core/sequences/unsubscribe.py) in
``landing/unsubscribes`` through the same durable journal as the signups, answered only once
it is on disk. No login: the token (``core/sequences/unsubscribe.py``) is an HMAC of the
address, so a link unsubscribes only the recipient it was sent to. A token this secret did
not make gets 403, a missing one 400, and nothing is written. The link acts on GET, as the
legacy link did; a mail scanner that follows links unsubscribes the recipient it scanned for,
which suppresses, never sends.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from campaign_pipelines.core.sequences.unsubscribe import BadToken, UnsubscribeLine, address_of
from campaign_pipelines.ingress.body import Refusal, read_capped
from campaign_pipelines.ingress.journal import JournalError

ONE_CLICK_BODY_BYTES = 1024
router = APIRouter()


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_link(request: Request, token: str = "") -> HTMLResponse:
    return await _unsubscribe(request, token, "link")


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_one_click(request: Request, token: str = "") -> HTMLResponse:
    try:
        body = await read_capped(request, ONE_CLICK_BODY_BYTES)
    except Refusal:
        return _page(413, "Not unsubscribed", "The request is too large for an unsubscribe.")
    if parse_qs(body.decode("latin-1")).get("List-Unsubscribe") != ["One-Click"]:
        return _page(400, "Not unsubscribed", "A one-click unsubscribe sends the form body "
                     "List-Unsubscribe=One-Click (RFC 8058).")
    return await _unsubscribe(request, token, "one-click")


async def _unsubscribe(request: Request, token: str, source: str) -> HTMLResponse:
    settings = request.app.state.ingress.settings
    if settings.unsubscribe_secret is None:
        return _page(503, "Not unsubscribed", "Unsubscribing is not set up on this server yet. "
                     "Please try again later or reply to the e-mail.")
    if not token:
        return _page(400, "Not unsubscribed", "The link has no token: open the whole link from "
                     "the e-mail.")
    try:
        key = address_of(settings.unsubscribe_secret.get_secret_value(), token)
    except BadToken:
        return _page(403, "Not unsubscribed", "This link is not valid: open the link from the "
                     "e-mail itself, without changing it.")
    line = UnsubscribeLine(address_key=key, received_at=datetime.now(UTC), source=source)
    try:
        await request.app.state.ingress.unsubscribes.append(line.line())
    except JournalError:
        return _page(503, "Not unsubscribed yet", "We could not record it just now. Please try "
                     "again in a minute.")
    return _page(200, "Unsubscribed", f"{html.escape(key)} will get no more e-mails from these "
                 "sequences.")


def _page(status: int, title: str, text: str) -> HTMLResponse:
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    )
    return HTMLResponse(page, status_code=status)
