"""Optional mirror of the SMS campaigns' counters in an Airtable table (``SMS_KPI_SYNC=airtable``).

The warehouse's ``campaign_ops.sms_campaigns`` is the record; this copies each campaign's
counters to the CRM team's table, the legacy "Campaign Control Base", which must have the
fields ``FIELDS`` (``Name`` the merge key; ``Delivery Rate`` and ``Opt-out Rate`` percent
fields, so 98.5 % is sent as 0.985; ``Last Run At`` a date-time, sent in UTC). ``typecast``
is on, so a new status becomes a new single-select option instead of a refusal.

One request upserts up to ``BATCH`` (10, Airtable's limit) records: ``PATCH
/v0/{base}/{table}`` with ``performUpsert: {fieldsToMergeOn: ["Name"]}``, bearer token. A
campaign already in the table is updated, a new one created: a repeated sync never duplicates.
Requests are spaced ``pace_s`` (0.25 s) apart: Airtable allows 5 a second per base.

The one retry layer for a request is here (README, "Retries"): the sends' ``SendRetry.run``
(stamina, no jitter) with ``AIRTABLE_RETRY``: a transport error, a timeout, 429 and 5xx are
tried again, 3 attempts in all, waiting 1 s then 2 s for a 5xx and, for a 429, ``Retry-After``
or else the 30 s Airtable asks for (``rate_limit_wait_s``); a wait that would end after
``budget_s`` (45 s) from the start of the sync is not waited, and no request starts after it.
Then the table is taken to be down and the sync stops. 401, 403, 404 (a wrong token, a base or
table the token cannot reach) stop it too; 422 (an unknown field, a value of the wrong type)
fails that request's records and the next request is tried. Every error says Airtable's error
type and message, masked, never the token. ``sync`` never raises for Airtable's sake: it
returns a ``SyncReport``.

``SyncMarker`` keeps, per base and table, a fingerprint of what was last synced for each
campaign; only campaigns whose fields changed since are sent, and every campaign again once a
day (``FULL_SYNC_EVERY``), which also repairs hand edits in Airtable. A campaign that failed
is dropped from the marker, so the next run sends it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from campaign_pipelines.adapters.atomic_write import write_bytes_atomic
from campaign_pipelines.adapters.http_errors import (
    ServiceUnavailable,
    is_transient_status,
    json_object,
    retry_after_s,
    service_said,
    transport_problem,
)
from campaign_pipelines.adapters.kept_client import KeptClient
from campaign_pipelines.adapters.sequence_sender import SendRetry
from campaign_pipelines.core.masking import masked

DEFAULT_BASE_URL = "https://api.airtable.com"
BATCH = 10  # records per request: Airtable's limit
FIELDS = ("Name", "Status", "Total Sent", "Delivered", "Failed", "Replies", "Opt Outs",
          "Delivery Rate", "Opt-out Rate", "Last Run At", "Last Run Result")
AIRTABLE_RETRY = SendRetry(attempts=3, wait_initial_s=1.0, wait_max_s=4.0,
                           retry_after_cap_s=30.0)
PACE_S = 0.25  # between requests: 4 a second, under Airtable's 5 per base
RATE_LIMIT_WAIT_S = 30.0  # Airtable: "wait 30 seconds before subsequent requests"
STOPPING = (401, 403, 404)  # every later request would be refused the same way
FULL_SYNC_EVERY = timedelta(days=1)
_QUOTED = 300


class AirtableUnavailable(ServiceUnavailable):
    """Airtable could not take the request now; ``retry_after_s`` if it said when."""


class AirtableRejected(Exception):
    """Airtable refused the request for good; the message says its error type and message."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class SyncReport:
    synced: list[str] = field(default_factory=list)  # campaign names Airtable took
    failed: list[str] = field(default_factory=list)  # sent or due, not taken this run
    created: int = 0
    updated: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {"synced": len(self.synced), "failed": len(self.failed), "created": self.created,
                "updated": self.updated, "requests": self.requests,
                "error": self.errors[0] if self.errors else None, "errors": self.errors[:5]}


def campaign_fields(row: dict[str, Any]) -> dict[str, Any]:
    """One sms_campaigns row as the Airtable record's fields (rates as fractions)."""
    last = row.get("last_run_at")
    return {"Name": row["name"], "Status": row["status"], "Total Sent": int(row["sent"]),
            "Delivered": int(row["delivered"]), "Failed": int(row["failed"]),
            "Replies": int(row["replies"]), "Opt Outs": int(row["opt_outs"]),
            "Delivery Rate": round(float(row["delivery_rate"]) / 100, 6),
            "Opt-out Rate": round(float(row["opt_out_rate"]) / 100, 6),
            "Last Run At": last.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if last else None,
            "Last Run Result": row.get("last_run_result") or ""}


def fingerprint(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


class AirtableKpis(KeptClient):
    name = "airtable"

    def __init__(self, token: str, base_id: str, table: str,
                 base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0,
                 retry: SendRetry = AIRTABLE_RETRY, rate_limit_wait_s: float = RATE_LIMIT_WAIT_S,
                 pace_s: float = PACE_S, budget_s: float = 45.0):
        super().__init__()
        self._token = token  # a secret: kept out of repr and messages
        self.base_id = base_id
        self.table = table
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.rate_limit_wait_s = rate_limit_wait_s
        self.pace_s = pace_s
        self.budget_s = budget_s
        self._started = time.monotonic()

    def __repr__(self) -> str:
        return (f"AirtableKpis(base_id={self.base_id!r}, table={self.table!r}, "
                f"base_url={self.base_url!r})")

    @property
    def target(self) -> str:
        return f"{self.base_id}/{self.table}"

    def _new_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(self.timeout),
                            headers={"Authorization": f"Bearer {self._token}"})

    def sync(self, records: list[dict[str, Any]]) -> SyncReport:
        """Each record (``campaign_fields``) upserted on Name, ``BATCH`` a request."""
        report = SyncReport()
        self._started = time.monotonic()
        batches = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
        for number, batch in enumerate(batches):
            names = [record["Name"] for record in batch]
            if number:
                time.sleep(self.pace_s)
            if time.monotonic() - self._started > self.budget_s:
                report.failed += [r["Name"] for later in batches[number:] for r in later]
                report.errors.append(f"airtable: {self.budget_s:g} s spent, the rest is left "
                                     "for the next run")
                break
            try:
                answer = self.retry.run(lambda b=batch: self._patch(b, report),
                                        AirtableUnavailable)
            except (AirtableUnavailable, AirtableRejected) as error:
                report.failed += names
                report.errors.append(str(error))
                if isinstance(error, AirtableUnavailable) or error.status in STOPPING:
                    report.failed += [r["Name"] for later in batches[number + 1:] for r in later]
                    break
                continue
            report.synced += names
            report.created += len(answer.get("createdRecords") or [])
            report.updated += len(answer.get("updatedRecords") or [])
        return report

    def _patch(self, batch: list[dict[str, Any]], report: SyncReport) -> dict[str, Any]:
        path = f"/v0/{quote(self.base_id, safe='')}/{quote(self.table, safe='')}"
        where = f"airtable PATCH {self.base_url}/v0/{self.target}"
        body = {"performUpsert": {"fieldsToMergeOn": ["Name"]}, "typecast": True,
                "records": [{"fields": record} for record in batch]}
        report.requests += 1
        try:
            response = self._http().patch(path, json=body)
        except httpx.TransportError as error:
            raise self._unavailable(f"{where}: {transport_problem(error, self.timeout)}",
                                    None) from None
        status = response.status_code
        if 200 <= status < 300:
            answer = json_object(response)
            if not isinstance(answer.get("records"), list):
                raise self._unavailable(f"{where}: HTTP {status} without a records list", None)
            return answer
        said = f"HTTP {status}: {airtable_said(response)}"
        if status == 429:
            wait = retry_after_s(response.headers.get("Retry-After"))
            raise self._unavailable(f"{where}: {said}",
                                    self.rate_limit_wait_s if wait is None else wait)
        if is_transient_status(status):
            raise self._unavailable(f"{where}: {said}",
                                    retry_after_s(response.headers.get("Retry-After")))
        hint = {401: "; set AIRTABLE_TOKEN to a valid personal access token",
                403: "; give AIRTABLE_TOKEN the data.records:write scope and access to base "
                     f"{self.base_id} (CAMPAIGN_AIRTABLE_BASE_ID)",
                404: "; check CAMPAIGN_AIRTABLE_BASE_ID and CAMPAIGN_AIRTABLE_TABLE",
                422: f"; the table needs the fields {', '.join(FIELDS)}"}.get(status, "")
        raise AirtableRejected(f"{where}: refused with {said}{hint}", status)

    def _unavailable(self, message: str, wait: float | None) -> AirtableUnavailable:
        """The error to retry on; a wait that would end past the sync's budget is longer than
        any cap, so ``SendRetry.run`` raises it at once and the next run syncs instead."""
        left = self.budget_s - (time.monotonic() - self._started)
        if (self.retry.wait_max_s if wait is None else wait) > left:
            wait = math.inf
        return AirtableUnavailable(message, wait)


def airtable_said(response: httpx.Response) -> str:
    """Airtable's error type and message (``{"error": {"type", "message"}}``, ``{"error":
    "NOT_FOUND"}`` or ``{"errors": [...]}``), masked and bounded."""
    body = json_object(response)
    found = body.get("error")
    if found is None and isinstance(body.get("errors"), list) and body["errors"]:
        found = body["errors"][0]
    if isinstance(found, dict):
        kind = found.get("type") or found.get("error") or ""
        text = f"{kind}: {found.get('message') or ''}".strip(": ")
    elif isinstance(found, str):
        text = found
    else:
        return service_said(response)
    text = " ".join(str(text).split())
    return masked(text[:_QUOTED] + ("…" if len(text) > _QUOTED else ""))


class SyncMarker:
    """What was last synced to one base and table: ``{name: fingerprint}`` and when every
    campaign was last sent, in one JSON file written whole (``atomic_write``)."""

    def __init__(self, folder: Path, target: str):
        digest = hashlib.sha256(target.encode()).hexdigest()[:12]
        self.path = Path(folder) / f"airtable-{digest}.json"
        self.target = target

    def read(self) -> tuple[dict[str, str], datetime | None]:
        try:
            found = json.loads(self.path.read_text(encoding="utf-8"))
            full = datetime.fromisoformat(found["full_sync_at"]) if found.get("full_sync_at") \
                else None
            return dict(found["synced"]), full
        except (OSError, ValueError, KeyError, TypeError):
            return {}, None  # no marker, or an unreadable one: everything is sent again

    def due(self, records: Iterable[dict[str, Any]], now: datetime) -> tuple[list[dict], bool]:
        """(the records to send, whether this is a full sync)."""
        synced, full_at = self.read()
        full = full_at is None or now - full_at >= FULL_SYNC_EVERY
        return [r for r in records if full or synced.get(r["Name"]) != fingerprint(r)], full

    def record(self, sent: list[dict[str, Any]], report: SyncReport, now: datetime,
               full: bool) -> None:
        synced, full_at = self.read()
        taken = set(report.synced)
        synced |= {r["Name"]: fingerprint(r) for r in sent if r["Name"] in taken}
        for name in report.failed:
            synced.pop(name, None)
        if full:
            full_at = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"target": self.target, "synced": synced,
                           "full_sync_at": full_at.isoformat() if full_at else None},
                          sort_keys=True)
        write_bytes_atomic(self.path, text.encode())
