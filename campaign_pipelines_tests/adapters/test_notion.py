"""NotionTracking against a loopback fake of Notion's database query and pages API."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from campaign_pipelines.adapters.notion import (
    NOTION_VERSION,
    NotionTracking,
    TrackingRejected,
    TrackingRow,
    TrackingUnavailable,
)
from campaign_pipelines_tests.fakes.json_http import DROP, Answer, JsonServer, Request

ADDRESS = "alice.smith@example.com"
DATABASE = "576de1aa-0000-4000-8000-000000000001"
SCHEMA = {"Name", "Email", "Segment", *(f"Email {n} Sent" for n in range(1, 8))}


class FakeNotion:
    """One database with the legacy schema; refuses what Notion refuses."""

    def __init__(self) -> None:
        self.pages: dict[str, dict] = {}
        self.queued: list[Answer] = []

    def __call__(self, request: Request) -> Answer:
        if self.queued:
            return self.queued.pop(0)
        if request.headers.get("Authorization") != "Bearer secret_token":
            return _error(401, "unauthorized", "API token is invalid.")
        if request.headers.get("Notion-Version") != NOTION_VERSION:
            return _error(400, "missing_version", "Notion-Version header failed validation")
        if request.method == "POST" and request.path == f"/v1/databases/{DATABASE}/query":
            wanted = request.body["filter"]["email"]["equals"]
            found = [p for p in self.pages.values() if p["properties"]["Email"]["email"] == wanted]
            return Answer(200, {"object": "list", "results": found[:1]})
        if request.method == "POST" and request.path == "/v1/pages":
            if request.body["parent"] != {"database_id": DATABASE}:
                return _error(404, "object_not_found", "Could not find database.")
            return self._write(str(uuid.uuid4()), request.body["properties"], {})
        if request.method == "PATCH" and request.path.startswith("/v1/pages/"):
            page_id = request.path.rsplit("/", 1)[1]
            if page_id not in self.pages:
                return _error(404, "object_not_found", f"Could not find page with ID: {page_id}.")
            return self._write(page_id, request.body["properties"], self.pages[page_id])
        return _error(400, "invalid_request_url", "Invalid request URL.")

    def _write(self, page_id: str, properties: dict, page: dict) -> Answer:
        unknown = set(properties) - SCHEMA
        if unknown:
            return _error(400, "validation_error",
                          f"{sorted(unknown)[0]} is not a property that exists.")
        page = {"object": "page", "id": page_id,
                "properties": {**page.get("properties", {}), **properties}}
        self.pages[page_id] = page
        return Answer(200, page)


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"object": "error", "status": status, "code": code, "message": message})


@pytest.fixture
def notion() -> Iterator[tuple[FakeNotion, NotionTracking]]:
    fake = FakeNotion()
    with JsonServer(fake) as server:
        with NotionTracking("secret_token", DATABASE, base_url=server.url, timeout=0.5) as sink:
            yield fake, sink


def sent(day: int) -> datetime:
    return datetime(2026, 12, day, 9, 0, tzinfo=UTC)


def test_creates_then_updates_one_page_per_address(notion) -> None:
    fake, tracking = notion
    first = tracking.upsert(TrackingRow(ADDRESS, "CRITICAL", {1: sent(1)}, title="Alice"))
    second = tracking.upsert(TrackingRow(ADDRESS, "CRITICAL", {2: sent(2)}))
    assert first == second and len(fake.pages) == 1
    properties = fake.pages[first]["properties"]
    assert properties["Email"] == {"email": ADDRESS}
    assert properties["Segment"] == {"select": {"name": "CRITICAL"}}
    assert properties["Email 1 Sent"]["date"]["start"] == "2026-12-01T09:00:00+00:00"
    assert properties["Email 2 Sent"]["date"]["start"] == "2026-12-02T09:00:00+00:00"
    assert properties["Name"]["title"][0]["text"]["content"] == "Alice"
    tracking.upsert(TrackingRow("bob@example.com", "OPTIMIZE"))
    assert len(fake.pages) == 2


def test_429_is_unavailable_with_retry_after(notion) -> None:
    fake, tracking = notion
    fake.queued.append(Answer(429, {"object": "error", "code": "rate_limited",
                                    "message": "Rate limited"}, {"Retry-After": "2"}))
    with pytest.raises(TrackingUnavailable, match="429") as unavailable:
        tracking.upsert(TrackingRow(ADDRESS, "URGENT"))
    assert unavailable.value.retry_after_s == 2.0


@pytest.mark.parametrize("answer", [Answer(503, {"message": "busy"}), DROP,
                                    _error(409, "conflict_error", "Conflict occurred")])
def test_5xx_conflicts_and_dropped_connections_are_unavailable(notion, answer) -> None:
    fake, tracking = notion
    fake.queued.append(answer)
    with pytest.raises(TrackingUnavailable) as unavailable:
        tracking.upsert(TrackingRow(ADDRESS, "URGENT"))
    assert ADDRESS not in str(unavailable.value)


def test_a_2xx_without_a_json_object_is_unavailable_and_creates_nothing(notion) -> None:
    fake, tracking = notion
    tracking.upsert(TrackingRow(ADDRESS, "URGENT"))
    fake.queued.append(Answer(200, ["not", "an", "object"]))
    with pytest.raises(TrackingUnavailable, match="without a JSON object"):
        tracking.upsert(TrackingRow(ADDRESS, "URGENT"))
    assert len(fake.pages) == 1


def test_a_refusal_is_rejected_with_notions_message_masked(notion) -> None:
    fake, tracking = notion
    fake.queued.append(_error(400, "validation_error", f"{ADDRESS} is not a valid email"))
    with pytest.raises(TrackingRejected, match="validation") as rejected:
        tracking.upsert(TrackingRow(ADDRESS, "URGENT"))
    assert ADDRESS not in str(rejected.value) and "a***@example.com" in str(rejected.value)


def test_a_wrong_token_is_rejected_without_the_token(notion) -> None:
    fake, tracking = notion
    wrong = NotionTracking("secret_wrong", DATABASE, base_url=tracking.base_url, timeout=0.5)
    with wrong, pytest.raises(TrackingRejected, match="NOTION_TOKEN") as rejected:
        wrong.upsert(TrackingRow(ADDRESS, "URGENT"))
    assert "secret_wrong" not in str(rejected.value) and fake.pages == {}
