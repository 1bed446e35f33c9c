"""A strict loopback fake of Airtable's records API for one base and table: ``PATCH
/v0/{base}/{table}`` with ``performUpsert`` on ``Name``, served by the shared ``JsonServer``.

It refuses what Airtable refuses, with Airtable's error bodies (``{"error": {"type",
"message"}}``): a missing or wrong bearer token (401), another base or table (403, as
Airtable answers a model the token cannot see), more than 10 records, an upsert not merged on
Name, a field the table does not have (422), and more than 5 requests within a second (429,
its rate limit). ``fail_next(n, status)`` answers the next n requests with that status before
looking at them. ``records`` is the table: one record per Name, updated in place by an upsert.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Any

from campaign_pipelines.adapters.airtable import FIELDS
from campaign_pipelines_tests.fakes.json_http import Answer, Request

TOKEN = "patFAKE.token-for-tests"
BASE = "appFAKEBASE000001"
TABLE = "Campaigns"
RATE_PER_S = 5
MESSAGES = {
    401: ("AUTHENTICATION_REQUIRED", "Authentication required"),
    403: ("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
          "Invalid permissions, or the requested model was not found."),
    422: ("INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed."),
    429: ("RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later"),
    500: ("SERVER_ERROR", "Try again. If the problem persists, contact support."),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
}


def error(status: int, kind: str | None = None, message: str | None = None) -> Answer:
    default_kind, default_message = MESSAGES.get(status, ("UNKNOWN", "error"))
    return Answer(status, {"error": {"type": kind or default_kind,
                                     "message": message or default_message}})


class FakeAirtable:
    """The route of a ``JsonServer``: ``with JsonServer(fake) as server``."""

    def __init__(self, token: str = TOKEN, base: str = BASE, table: str = TABLE):
        self.token, self.base, self.table = token, base, table
        self.records: dict[str, dict[str, Any]] = {}  # Name → {id, createdTime, fields}
        self.faults: deque[Answer] = deque()
        self._recent: deque[float] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self.faults.extend([error(status)] * n)

    def __call__(self, request: Request) -> Answer:
        with self._lock:
            if self.faults:
                return self.faults.popleft()
            if self._over_rate():
                return error(429)
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return error(401)
            if request.path != f"/v0/{self.base}/{self.table}":
                return error(403)
            if request.method != "PATCH":
                return error(404, "NOT_FOUND", "Could not find what you are looking for")
            return self._upsert(request.body or {})

    def _over_rate(self) -> bool:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        self._recent.append(now)
        return len(self._recent) > RATE_PER_S

    def _upsert(self, body: dict[str, Any]) -> Answer:
        if (body.get("performUpsert") or {}).get("fieldsToMergeOn") != ["Name"]:
            return error(422, "INVALID_REQUEST_UNKNOWN", "performUpsert must merge on Name")
        records = body.get("records")
        if not isinstance(records, list) or not 1 <= len(records) <= 10:
            return error(422, "INVALID_RECORDS", "Provide between 1 and 10 records")
        for record in records:
            unknown = set(record.get("fields", {})) - set(FIELDS)
            if unknown:
                return error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{min(unknown)}"')
            if not record.get("fields", {}).get("Name"):
                return error(422, "INVALID_VALUE_FOR_COLUMN", "Name cannot be empty")
        created, updated, answered = [], [], []
        for record in records:
            fields = record["fields"]
            found = self.records.get(fields["Name"])
            if found is None:
                found = {"id": f"rec{next(self._ids):014d}",
                         "createdTime": "2026-11-30T05:00:00.000Z", "fields": {}}
                self.records[fields["Name"]] = found
                created.append(found["id"])
            else:
                updated.append(found["id"])
            found["fields"] |= fields
            answered.append(found)
        return Answer(200, {"records": answered, "createdRecords": created,
                            "updatedRecords": updated})
