"""A tiny, fully known bank for tests: every customer's attributes are chosen by hand, so each
filter's effect can be asserted exactly. Written into a real DuckDB file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from campaign_pipelines.core.iin import check_digit

ACRM = "ACRM_DW.RB_BLACK_LIST@ACRM"
DSSB = "dssb_de.dim_clients_black_list"
NO_WORKER = "BL_No_worker"
LATEST, EARLIER = date(2026, 10, 1), date(2026, 9, 1)


def valid_iin(serial: int, born: str = "850315", century_gender: int = 3) -> str:
    """A checksum-valid IIN; serials whose check digit does not exist are skipped."""
    while True:
        first = f"{born}{century_gender}{serial:04d}"
        digit = check_digit(first)
        if digit is not None:
            return first + str(digit)
        serial += 1


@dataclass(frozen=True)
class Customer:
    iin: str
    devices: tuple[str, ...] = ("android",)
    streams: tuple[str, ...] = ("Маркет",)
    months: tuple[date, ...] = (LATEST,)
    products: tuple[str, ...] = ("Кредитная карта",)
    blacklists: tuple[str, ...] = ()


# Born 2001: the IIN starts with "01", the zero Excel loses.
ZERO_LED = valid_iin(10, born="010203", century_gender=5)

CUSTOMERS = {
    "plain": Customer(valid_iin(100)),
    "ios_deposit": Customer(valid_iin(200), devices=("iOS",), products=("Депозит",)),
    "web_only": Customer(valid_iin(300), devices=("web",)),
    "no_device": Customer(valid_iin(400), devices=()),
    "inactive": Customer(valid_iin(500), months=(EARLIER,)),
    "payments_only": Customer(valid_iin(600), streams=("Платежи",)),
    "acrm_listed": Customer(valid_iin(700), blacklists=(ACRM,)),
    "worker": Customer(valid_iin(800), blacklists=(NO_WORKER,)),
    "dssb_and_acrm": Customer(valid_iin(900), blacklists=(DSSB, ACRM)),
    "zero_led": Customer(ZERO_LED, devices=("iOS", "android")),
    # The legacy documentation's example customers (their check digits are wrong on purpose).
    "seed_1": Customer("123456789012", blacklists=(ACRM,)),
    "seed_2": Customer("987654321098", devices=("iOS",)),
    "seed_3": Customer("456789123456"),
}


def write_bank(db_path: Path, customers: dict[str, Customer] = CUSTOMERS) -> None:
    people = list(customers.values())
    tables = {
        "blacklist": [{"source": s, "iin": c.iin} for c in people for s in c.blacklists],
        "client_devices": [{"iin": c.iin, "device": d} for c in people for d in c.devices],
        "push_preferences": [{"iin": c.iin, "stream": s} for c in people for s in c.streams],
        "mau": [{"iin": c.iin, "month": m} for c in people for m in c.months],
        "client_products": [{"iin": c.iin, "product": p} for c in people for p in c.products],
    }
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS sources")
        for table, rows in tables.items():
            frame = pl.DataFrame(rows)  # noqa: F841 - read by DuckDB's replacement scan
            # Table names come from the dict above, never from input.
            connection.execute(f"CREATE OR REPLACE TABLE sources.{table} AS SELECT * FROM frame")  # noqa: S608


SEED_REQUEST = {
    "campaign_type": "RB1",
    "metadata": {
        "campaign_name": "Spring Marketing Campaign",
        "stream": "market",
        "channel": "Push",
        "date_start": "2024-03-01",
        "date_end": "2024-03-31",
        "camp_cnt": "50000",
    },
    "user_iins": ["123456789012", "987654321098", "456789123456"],
    "filter_config": {
        "blacklist_tables": [ACRM],
        "devices": ["android", "iOS"],
        "mau_only": True,
        "products": ["Кредитная карта"],
    },
}


def request_text(**changes: object) -> str:
    body = json.loads(json.dumps(SEED_REQUEST))
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body, ensure_ascii=False)
