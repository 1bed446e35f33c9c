import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from campaign_pipelines.adapters.reference_config import (
    default_config_path,
    load_reference_config,
)
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.audience import filter_audience
from campaign_pipelines.core.blacklist import extract_blacklists
from campaign_pipelines.core.iin import with_clean_iins
from campaign_pipelines.core.profile import Vocabulary, build_profile, vocabulary_frame
from campaign_pipelines.core.reference import keyed_reference
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines.demo.build import build_demo
from campaign_pipelines.demo.synthetic_bank import BLACKLIST_SOURCES, generate_bank

CUSTOMERS = 5_000
SEED = 7

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    data_dir = tmp_path_factory.mktemp("demo")
    return data_dir, build_demo(data_dir, CUSTOMERS, SEED)


@pytest.fixture(scope="module")
def bank() -> dict[str, pl.DataFrame]:
    return generate_bank(CUSTOMERS, SEED)


def query(data_dir: Path, sql: str) -> list[tuple]:
    # read_only fails while any read-write connection to the file is open in this process,
    # so every query here also proves build_demo closed its connection.
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_sources_tables_have_the_contract_columns_and_types(built):
    data_dir, _ = built
    rows = query(
        data_dir,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'sources' ORDER BY table_name, ordinal_position",
    )
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        columns.setdefault(table, []).append((column, data_type))
    assert columns == {
        "blacklist": [("source", "VARCHAR"), ("iin", "VARCHAR")],
        "client_devices": [("iin", "VARCHAR"), ("device", "VARCHAR")],
        "client_phones": [("iin", "VARCHAR"), ("phone", "VARCHAR")],
        "client_products": [("iin", "VARCHAR"), ("product", "VARCHAR")],
        "customers": [
            ("iin", "VARCHAR"),
            ("birth_date", "DATE"),
            ("gender", "VARCHAR"),
            ("city", "VARCHAR"),
            ("segment", "VARCHAR"),
        ],
        "mau": [("iin", "VARCHAR"), ("month", "DATE")],
        "push_preferences": [("iin", "VARCHAR"), ("stream", "VARCHAR")],
    }


def test_row_counts_match_the_generated_bank_and_the_summary(built, bank):
    data_dir, summary = built
    for name, frame in bank.items():
        (count,) = query(data_dir, f"SELECT count(*) FROM sources.{name}")[0]  # noqa: S608
        assert count == frame.height == summary["tables"][f"sources.{name}"]
    assert summary["warehouse"] == str(data_dir / "warehouse.duckdb")
    assert summary["seconds"]["total"] >= summary["seconds"]["load"] > 0
    assert [Path(p).name for p in summary["files"]] == [
        "spring_clients.csv",
        "loyalty_numbers.xlsx",
        "seed_example_rb1.json",
        "spring_push_rb1.json",
        "loyalty_bonus_rb3.yaml",
    ]
    assert all(Path(p).is_file() for p in summary["files"])


def test_rebuilding_replaces_the_tables_instead_of_appending(tmp_path):
    build_demo(tmp_path, 400, SEED)
    build_demo(tmp_path, 300, SEED)
    assert query(tmp_path, "SELECT count(*) FROM sources.customers") == [(300,)]
    duplicates = "SELECT count(*) - count(DISTINCT iin) FROM sources.customers"
    assert query(tmp_path, duplicates) == [(0,)]


def test_most_customers_have_a_kazakh_mobile_some_spelled_the_old_way(built, bank):
    from campaign_pipelines.core.sms.phones import normalise_phones

    phones = bank["client_phones"]
    assert 0.9 < phones.height / bank["customers"].height < 1.0
    assert set(bank["customers"]["iin"][:3]) <= set(phones["iin"])  # the showcase customers
    assert phones["phone"].str.starts_with("8").any()  # 8 7xx..., the national spelling
    checked = normalise_phones(phones)
    assert checked.counts["valid"] == phones.height  # every spelling is a valid KZ mobile
    data_dir, _ = built  # and the packaged config's SQL reads them back
    config = load_reference_config(default_config_path("duckdb"))
    assert config.phones is not None
    fetched = DuckDBWarehouse(data_dir / "warehouse.duckdb").fetch(config.phones)
    assert fetched.sort("iin").equals(phones.sort("iin"))


def test_showcase_customer_is_blacklisted_in_duckdb(built):
    data_dir, _ = built
    rows = query(data_dir, "SELECT source FROM sources.blacklist WHERE iin = '123456789012'")
    assert rows == [("ACRM_DW.RB_BLACK_LIST@ACRM",)]


def test_spring_clients_csv_is_an_excel_style_export(built, bank):
    data_dir, _ = built
    path = data_dir / "landing" / "uploads" / "spring_clients.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw[3:].decode("utf-8").splitlines()[0] == "ИИН;Имя"
    rows = pl.read_csv(path, separator=";", infer_schema=False)
    assert rows.columns == ["ИИН", "Имя"]
    assert rows.height == 2_000 + 3 + 2
    values = rows["ИИН"]
    assert {"n/a", "12345"} <= set(values.to_list())
    assert values.str.contains(r"^\d{4} \d{4} \d{4}$").sum() >= 2
    assert values.str.contains(r"^\d{4}-\d{4}-\d{4}$").sum() >= 2
    assert values.str.contains(r"^0\d{11}$").sum() > 50  # leading zeros kept as text
    assert rows.is_duplicated().sum() == 2 * 3
    cleaned = with_clean_iins(rows.rename({"ИИН": "raw_iin"})).drop_nulls("iin")
    assert cleaned.height == rows.height - 2
    assert cleaned["iin"].is_in(bank["customers"]["iin"].implode()).all()


def test_loyalty_xlsx_stores_iins_as_numbers_that_lost_their_zeros(built, bank):
    data_dir, _ = built
    rows = pl.read_excel(data_dir / "landing" / "uploads" / "loyalty_numbers.xlsx")
    assert rows.columns == ["IIN", "Segment"]
    assert rows.height == 1_500
    assert rows.schema["IIN"].is_numeric()
    as_text = rows["IIN"].cast(pl.Int64).cast(pl.String)
    assert as_text.str.len_chars().min() < 12
    assert not as_text.str.starts_with("0").any()
    restored = as_text.str.zfill(12)
    assert restored.is_in(bank["customers"]["iin"].implode()).all()


def test_seed_example_has_its_documented_outcome_against_the_demo_bank(built):
    """The legacy documentation's example request: 3 in, 1 blacklisted, 2 left. Computed with
    the pipeline's own extraction, profile and filter (core/, the shipped reference config) over
    the demo warehouse, without Dagster."""
    data_dir, _ = built
    text = (data_dir / "landing" / "campaigns" / "seed_example_rb1.json").read_text("utf-8")
    assert "Көктемгі" in text and "\n  " in text  # not ASCII-escaped, pretty-printed
    request = parse_request(text)
    assert (request.campaign_type.value, request.metadata.campaign_name) == (
        "RB1", "Spring Marketing Campaign")

    config = load_reference_config(default_config_path("duckdb"))
    fetch = DuckDBWarehouse(data_dir / "warehouse.duckdb").fetch
    blacklist, _, _ = extract_blacklists(fetch, config.blacklists)
    datasets = {"blacklist": blacklist.lazy()} | {
        name: keyed_reference(fetch(sql), name)[0].lazy() for name, sql in config.datasets.items()
    }
    vocabulary = vocabulary_frame(datasets)
    profile = build_profile(datasets, vocabulary).lazy()
    valid = pl.DataFrame({"iin": request.user_iins}).with_columns(
        iin_key=pl.col("iin").cast(pl.Int64))
    filters = request.filter_config
    audience, stats = filter_audience(valid, filters, profile, Vocabulary(vocabulary),
                                      filters.blacklist_tables)
    assert valid.height == 3
    assert stats["blacklist_removed"] == 1 and stats["after_product"] == 2
    assert sorted(audience["iin"]) == ["456789123456", "987654321098"]  # 123456789012 is listed


def test_spring_push_request_targets_the_csv_with_every_filter(built):
    data_dir, _ = built
    path = data_dir / "landing" / "campaigns" / "spring_push_rb1.json"
    request = json.loads(path.read_text("utf-8"))
    assert request["campaign_type"] == "RB1"
    assert request["user_files"] == ["spring_clients.csv"]
    assert request["filter_config"] == {
        "blacklist_tables": list(BLACKLIST_SOURCES),
        "devices": ["android", "iOS"],
        "push_streams": ["Маркет"],
        "mau_only": True,
    }
    assert request["control_group"] == {"share": 0.1, "stratify_by": ["device", "mau"]}
    assert request["metadata"]["date_start"].startswith("2026-12")


def test_loyalty_bonus_request_is_rb3_yaml(built):
    data_dir, _ = built
    path = data_dir / "landing" / "campaigns" / "loyalty_bonus_rb3.yaml"
    request = yaml.safe_load(path.read_text("utf-8"))
    assert request["campaign_type"] == "RB3"
    assert request["user_files"] == ["loyalty_numbers.xlsx"]
    assert request["metadata"]["bonus"] == "5000 ₸ cashback"
    assert json.loads(request["metadata"]["characteristic_json"]) == {"min_spend": 50000}
    assert request["metadata"]["date_start"] == "2026-12-05"  # a string, not a YAML date
    assert request["filter_config"]["products"] == ["Кредитная карта", "Депозит"]
    assert request["control_group"] == {"share": 0.2, "stratify_by": ["device"]}
    assert request["strict_iin_checksum"] is True


def test_landing_files_are_deterministic_and_leave_no_temp_files(built, tmp_path):
    data_dir, _ = built
    build_demo(tmp_path, CUSTOMERS, SEED)
    landing = data_dir / "landing"
    written = sorted(p.relative_to(landing) for p in landing.rglob("*") if p.is_file())
    assert not [p for p in written if p.name.startswith(".")]
    for relative in written:  # the xlsx too: its creation time is fixed
        assert (landing / relative).read_bytes() == (tmp_path / "landing" / relative).read_bytes()


def test_sample_requests_are_valid_campaign_requests(built):
    data_dir, _ = built
    campaigns = data_dir / "landing" / "campaigns"
    parsed = {
        path.name: parse_request(path.read_text("utf-8"), yaml_syntax=path.suffix == ".yaml")
        for path in sorted(campaigns.iterdir())
    }
    assert {name: str(r.campaign_type) for name, r in parsed.items()} == {
        "loyalty_bonus_rb3.yaml": "RB3",
        "seed_example_rb1.json": "RB1",
        "spring_push_rb1.json": "RB1",
    }
    assert parsed["loyalty_bonus_rb3.yaml"].strict_iin_checksum is True
