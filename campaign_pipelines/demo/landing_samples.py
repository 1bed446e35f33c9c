"""Sample upload files and campaign requests for the demo landing zone.

The uploads are messy on purpose, the way marketers' lists really arrive: a CSV exported from
Excel with a BOM, ``;`` separators, IINs written with spaces or dashes, duplicates and junk; and
an XLSX where IINs were typed as numbers, so the leading zeros of everyone born in the 2000s are
gone. The requests point at those files, so one demo run exercises normalisation, zero
restoration, every filter and the control split.

Samples are drawn from the bank with their own seeded generator, so the files are as
deterministic as the bank. Each file is written atomically (temp file, fsync, rename), because
a sensor may be polling the folder while the demo writes it.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter
import yaml

from campaign_pipelines.adapters.landing import write_file_atomic
from campaign_pipelines.demo.synthetic_bank import BLACKLIST_SOURCES, SHOWCASE_IINS

SPRING_CLIENTS_FILE = "spring_clients.csv"
LOYALTY_NUMBERS_FILE = "loyalty_numbers.xlsx"
SPRING_CLIENTS_ROWS = 2_000
LOYALTY_NUMBERS_ROWS = 1_500
SPRING_CLIENTS_JUNK = ("n/a", "12345")

_MALE_NAMES = ("Нурлан", "Ерлан", "Асхат", "Данияр", "Айдос", "Тимур", "Арман", "Дмитрий")
_FEMALE_NAMES = ("Айгерим", "Динара", "Асель", "Жанар", "Мадина", "Алия", "Сауле", "Елена")
_ALL_DEPLOY_OPTIONS = {
    "deploy_metadata": True,
    "deploy_targeting": True,
    "deploy_users": True,
    "deploy_offlimit": True,
}

SEED_EXAMPLE_RB1 = {
    "campaign_type": "RB1",
    "metadata": {
        "campaign_name": "Spring Marketing Campaign",
        "campaign_desc": "Promote spring products",
        "stream": "market",
        "sub_stream": "seasonal",
        "target_action": "purchase",
        "channel": "Push",
        "campaign_type": "promotion",
        "campaign_text": "Check out our spring collection!",
        "campaign_text_kz": "Көктемгі коллекциямызды қараңыз!",
        "short_desc": "Spring promo",
        "date_start": "2024-03-01",
        "date_end": "2024-03-31",
        "out_date": "2024-03-02",
        "camp_cnt": "50000",
    },
    "user_iins": list(SHOWCASE_IINS),
    "filter_config": {
        "blacklist_tables": ["ACRM_DW.RB_BLACK_LIST@ACRM"],
        "devices": ["android", "iOS"],
        "mau_only": True,
        "products": ["Кредитная карта"],
    },
    "deploy_options": dict(_ALL_DEPLOY_OPTIONS),
}
"""The legacy documentation's example request, verbatim: its documented outcome (3 in,
1 blacklisted, 2 deployed) holds against the synthetic bank's showcase customers."""

SPRING_PUSH_RB1 = {
    "campaign_type": "RB1",
    "metadata": {
        "campaign_name": "Spring clients: Market push",
        "campaign_desc": "Market offers for the spring client list",
        "stream": "market",
        "sub_stream": "seasonal",
        "target_action": "purchase",
        "channel": "Push",
        "campaign_type": "promotion",
        "campaign_text": "Новые предложения в Маркете: загляните!",
        "campaign_text_kz": "Маркеттегі жаңа ұсыныстар: кіріп көріңіз!",
        "short_desc": "Market push",
        "date_start": "2026-12-01",
        "date_end": "2026-12-31",
        "out_date": "2026-12-02",
        "camp_cnt": str(SPRING_CLIENTS_ROWS),
    },
    "user_files": [SPRING_CLIENTS_FILE],
    "filter_config": {
        "blacklist_tables": list(BLACKLIST_SOURCES),
        "devices": ["android", "iOS"],
        "push_streams": ["Маркет"],
        "mau_only": True,
    },
    "control_group": {"share": 0.1, "stratify_by": ["device", "mau"]},
    "deploy_options": dict(_ALL_DEPLOY_OPTIONS),
}

LOYALTY_BONUS_RB3 = {
    "campaign_type": "RB3",
    "metadata": {
        "campaign_name": "Loyalty cashback",
        "campaign_desc": "Cashback for loyal card and deposit holders",
        "stream": "bonus",
        "sub_stream": "loyalty",
        "target_action": "spend",
        "channel": "Push",
        "campaign_type": "bonus",
        "campaign_text": "Получите 5000 ₸ кэшбэка при покупках от 50 000 ₸",
        "campaign_text_kz": "50 000 ₸-ден асатын сатып алуларға 5000 ₸ кэшбэк алыңыз",
        "short_desc": "Loyalty cashback",
        "date_start": "2026-12-05",
        "date_end": "2026-12-31",
        "out_date": "2026-12-05",
        "camp_cnt": str(LOYALTY_NUMBERS_ROWS),
        "bonus": "5000 ₸ cashback",
        "characteristic_json": '{"min_spend": 50000}',
    },
    "user_files": [LOYALTY_NUMBERS_FILE],
    "filter_config": {
        "blacklist_tables": list(BLACKLIST_SOURCES),
        "devices": ["android", "iOS"],
        "products": ["Кредитная карта", "Депозит"],
    },
    "control_group": {"share": 0.2, "stratify_by": ["device"]},
    "strict_iin_checksum": True,
    "deploy_options": dict(_ALL_DEPLOY_OPTIONS),
}


def write_landing_samples(landing_dir: Path, customers: pl.DataFrame, seed: int = 7) -> list[Path]:
    """Writes the two uploads and three campaign requests; returns the paths written."""
    rng_csv, rng_xlsx = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    uploads, campaigns = landing_dir / "uploads", landing_dir / "campaigns"
    csv_bytes = io.BytesIO()
    spring_clients(customers, rng_csv).write_csv(csv_bytes, separator=";", include_bom=True)
    return [
        _write_atomically(uploads / SPRING_CLIENTS_FILE, csv_bytes.getvalue()),
        _write_atomically(
            uploads / LOYALTY_NUMBERS_FILE, _xlsx_bytes(loyalty_numbers(customers, rng_xlsx))
        ),
        _write_atomically(campaigns / "seed_example_rb1.json", _json_bytes(SEED_EXAMPLE_RB1)),
        _write_atomically(campaigns / "spring_push_rb1.json", _json_bytes(SPRING_PUSH_RB1)),
        _write_atomically(campaigns / "loyalty_bonus_rb3.yaml", _yaml_bytes(LOYALTY_BONUS_RB3)),
    ]


def spring_clients(customers: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``ИИН;Имя`` rows as a marketer's CSV has them: a few IINs with spaces or dashes
    inside, 3 duplicated rows and 2 junk values, all shuffled together."""
    # Leading-zero IINs first, so the messy formatting below always hits the zeros case.
    sample = _sample(customers, rng, SPRING_CLIENTS_ROWS).sort(
        pl.col("iin").str.starts_with("0"), descending=True, maintain_order=True
    )
    names = pl.Series(list(_MALE_NAMES + _FEMALE_NAMES))
    pick = rng.integers(0, len(_MALE_NAMES), len(sample))
    offset = np.where(sample["gender"].to_numpy() == "F", len(_MALE_NAMES), 0)
    iin = pl.col("iin")
    grouped = (iin.str.slice(0, 4), iin.str.slice(4, 4), iin.str.slice(8, 4))
    position = pl.int_range(pl.len())
    rows = sample.select(
        pl.when(position < 3)
        .then(pl.concat_str(grouped, separator=" "))
        .when(position < 6)
        .then(pl.concat_str(grouped, separator="-"))
        .otherwise(iin)
        .alias("ИИН"),
        names.gather(pick + offset).alias("Имя"),
    )
    junk = pl.DataFrame({"ИИН": list(SPRING_CLIENTS_JUNK), "Имя": ["Без имени"] * 2})
    duplicates = rows.slice(10, 3)
    messy = pl.concat([rows, duplicates, junk], how="vertical")
    return messy[rng.permutation(len(messy))]


def loyalty_numbers(customers: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``IIN`` as an integer (what Excel keeps of a typed number) and ``Segment``."""
    sample = _sample(customers, rng, LOYALTY_NUMBERS_ROWS)
    return sample.select(IIN=pl.col("iin").cast(pl.Int64), Segment=pl.col("segment"))


def _sample(customers: pl.DataFrame, rng: np.random.Generator, size: int) -> pl.DataFrame:
    """Customers drawn without replacement, in bank order; the showcase ones are left out
    (the seed example request names them explicitly)."""
    pool = customers.filter(~pl.col("iin").is_in(list(SHOWCASE_IINS)))
    return pool[np.sort(rng.choice(len(pool), min(size, len(pool)), replace=False))]


def _xlsx_bytes(rows: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    # A fixed creation time: a rerun of demo-data writes the same bytes, so the loyalty
    # request names the same upload and `make demo` twice finds it unchanged.
    workbook.set_properties({"created": datetime(2026, 11, 1, tzinfo=UTC)})
    sheet = workbook.add_worksheet("Loyalty")
    # "0" shows all digits instead of 1.2E+11, as someone who typed the numbers would see them.
    whole_number = workbook.add_format({"num_format": "0"})
    sheet.write_row(0, 0, ["IIN", "Segment"])
    for row, (iin, segment) in enumerate(rows.iter_rows(), start=1):
        sheet.write_number(row, 0, iin, whole_number)
        sheet.write_string(row, 1, segment)
    sheet.set_column(0, 0, 14)
    workbook.close()
    return buffer.getvalue()


def _json_bytes(request: dict) -> bytes:
    return (json.dumps(request, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _yaml_bytes(request: dict) -> bytes:
    header = "# Sample RB3 request written by `campaigns demo-data`.\n"
    body = yaml.safe_dump(request, allow_unicode=True, sort_keys=False)
    return (header + body).encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> Path:
    """Lands ``data`` as the landing zone's writers do (``write_file_atomic``: hidden temp file,
    fsync, rename, mode ``FILE_MODE``), creating the folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, data)
    return path
