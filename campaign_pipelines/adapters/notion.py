"""Optional mirror of the e-mail tracking table in a Notion database (``NOTION_TOKEN``).

The warehouse's ``campaign_ops.email_sequences`` is the record; this copies one enrollment's
row to the marketing team's Notion database, the legacy "Email Sequence DB", which must have:
a title property (``title_property``, "Name" by default), ``Email`` (email), ``Segment``
(select) and ``Email 1 Sent`` … ``Email 7 Sent`` (date). An upsert is one query by the
``Email`` property, then an update of the page found or the creation of a new one; a sent
date is written, never cleared. Two upserts of one new address at the same moment may create
two pages (Notion has no unique property); the sending step runs them one at a time.

Notion's public API, ``Notion-Version: 2022-06-28`` (a database with one data source, as the
legacy one). Each request is sent once (README, "Retries"): a transport error, a timeout,
408, 409 (Notion's ``conflict_error``: retry), 429 (with ``Retry-After``), 5xx and a 2xx
whose body is no JSON object (a proxy's page) raise ``TrackingUnavailable``; any other 4xx
raises ``TrackingRejected`` with Notion's message, masked (a wrong token, a database not
shared with the integration, a missing property).
Since the warehouse holds the record, a rejected sync loses nothing: it can be run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from campaign_pipelines.adapters.http_errors import (
    ServiceUnavailable,
    is_transient_status,
    json_object,
    retry_after_s,
    service_said,
    transport_problem,
)
from campaign_pipelines.adapters.kept_client import KeptClient
from campaign_pipelines.core.masking import masked

NOTION_VERSION = "2022-06-28"
EMAILS_IN_SEQUENCE = 7


class TrackingUnavailable(ServiceUnavailable):
    """Notion could not take the update now; ``retry_after_s`` if it said when."""


class TrackingRejected(Exception):
    """Notion refused the update for good; the message says what it said."""


@dataclass(frozen=True)
class TrackingRow:
    email: str
    segment: str
    sent_at: Mapping[int, datetime] = field(default_factory=dict)  # e-mail number → sent
    title: str = ""  # the page's title; the masked address when empty


class NotionTracking(KeptClient):
    name = "notion"

    def __init__(
        self,
        token: str,
        database_id: str,
        base_url: str = "https://api.notion.com",
        timeout: float = 10.0,
        title_property: str = "Name",
    ):
        super().__init__()
        self._token = token  # a secret: kept out of repr and messages
        self.database_id = database_id
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.title_property = title_property

    def __repr__(self) -> str:
        return f"NotionTracking(database_id={self.database_id!r}, base_url={self.base_url!r})"

    def _new_client(self) -> httpx.Client:
        """One client per sink, kept across upserts (its connections and TLS context)."""
        return httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout),
            headers={"Authorization": f"Bearer {self._token}",
                     "Notion-Version": NOTION_VERSION},
        )

    def upsert(self, row: TrackingRow) -> str:
        """The page's id after creating or updating it."""
        client = self._http()
        query = {"filter": {"property": "Email", "email": {"equals": row.email}}, "page_size": 1}
        found = self._call(client, "POST", f"/v1/databases/{self.database_id}/query", query)
        pages = found.get("results") or []
        properties = tracking_properties(row)
        if pages:
            page_id = pages[0]["id"]
            self._call(client, "PATCH", f"/v1/pages/{page_id}", {"properties": properties})
            return page_id
        properties["Email"] = {"email": row.email}
        properties[self.title_property] = {
            "title": [{"text": {"content": row.title or masked(row.email)}}]
        }
        body = {"parent": {"database_id": self.database_id}, "properties": properties}
        return self._call(client, "POST", "/v1/pages", body)["id"]

    def _call(self, client: httpx.Client, method: str, path: str, body: dict) -> dict[str, Any]:
        where = f"notion {method} {path}"
        try:
            response = client.request(method, path, json=body)
        except httpx.TransportError as error:
            problem = transport_problem(error, self.timeout)
            raise TrackingUnavailable(f"{where}: {problem}") from None
        status = response.status_code
        if 200 <= status < 300:
            answer = json_object(response)
            if not answer:  # read as "no page found", it would create a second page
                raise TrackingUnavailable(f"{where}: HTTP {status} without a JSON object")
            return answer
        said = service_said(response)
        code = _error_code(response)
        if code:
            said = f"{code}: {said}"
        if is_transient_status(status) or status == 409:
            raise TrackingUnavailable(
                f"{where}: HTTP {status}: {said}",
                retry_after_s(response.headers.get("Retry-After")),
            )
        hint = ""
        if status in (401, 403, 404):
            hint = "; check NOTION_TOKEN and that the database is shared with the integration"
        raise TrackingRejected(f"{where}: refused with HTTP {status}: {said}{hint}")


def _error_code(response: httpx.Response) -> str:
    """Notion's error ``code`` (``validation_error``, ``rate_limited``...), when it sent one."""
    code = json_object(response).get("code")
    return code if isinstance(code, str) and code.isidentifier() else ""


def tracking_properties(row: TrackingRow) -> dict[str, Any]:
    """The properties an upsert sets on an existing page: the segment and the sent dates."""
    properties: dict[str, Any] = {"Segment": {"select": {"name": row.segment}}}
    for number, sent in sorted(row.sent_at.items()):
        if not 1 <= number <= EMAILS_IN_SEQUENCE:
            raise ValueError(f"e-mail number {number} is outside 1..{EMAILS_IN_SEQUENCE}")
        properties[f"Email {number} Sent"] = {"date": {"start": sent.isoformat()}}
    return properties
