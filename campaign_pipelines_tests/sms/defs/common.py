"""What the SMS defs tests share: resources over a temporary data directory (a real DuckDB
file, the outbox provider), landing files written as the ingress and operators do, and
campaign files."""

import json
import os
import time
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.resources import CampaignDataResource, DuckDBWarehouseResource
from campaign_pipelines.defs.sms.resources import SmsResource

START = "2026-12-01T10:00:00+05:00"
BEFORE = "2026-12-01T09:30:00+05:00"
AFTER = "2026-12-01T10:05:00+05:00"
PHONES = "\n".join(["phone,first_name", "+7 701 234 5601,Айгерим", "87012345602,Данияр",
                    "8 (701) 234-56-03,Асель", "12345,Broken", "+77012345601,Again"]) + "\n"
VALID = ["+77012345601", "+77012345602", "+77012345603"]


def resources(root: Path) -> dict:
    return {
        "warehouse": DuckDBWarehouseResource(database=str(root / "warehouse.duckdb"),
                                             reference_config_path=str(
                                                 default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(root)),
        "io_manager": ParquetIOManager(base_dir=str(root / "assets")),
        "sms": SmsResource(outbox_dir=str(root / "outbox" / "sms")),
    }


def store(root: Path) -> SmsStore:
    return SmsStore(DuckDBWarehouse(root / "warehouse.duckdb"))


def campaign_text(name: str = "dec", **changes: object) -> str:
    body = {"name": name, "template": "{{ first_name }}, кэшбэк 5%! {{ stop_hint }}",
            "sender": "MyBank", "start_at": START, "prospects": {"upload": "list.csv"},
            **changes}
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)


def landed(root: Path, kind: str, name: str, text: str) -> Path:
    """A landing file older than the quiet period, so a tick answers it at once."""
    folder = root / "landing" / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def upload(root: Path, name: str = "list.csv", text: str = PHONES) -> Path:
    folder = root / "landing" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def tick(sensor, resources: dict, instance, names: tuple[str, ...]):
    with dg.build_sensor_context(resources={k: resources[k] for k in names},
                                 instance=instance) as context:
        return sensor(context)


def outbox(root: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((root / "outbox" / "sms").glob("*.jsonl"))
            for line in path.read_text().splitlines()]
