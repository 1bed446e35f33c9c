"""The audience pipeline end to end: request file → Dagster run → funnel, on a real DuckDB bank."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import xlsxwriter

from campaign_pipelines.core.requests import RequestError
from campaign_pipelines.responses import audience_response
from campaign_pipelines.service import register, run_job
from campaign_pipelines_tests.bank import (
    ACRM,
    CUSTOMERS,
    DSSB,
    NO_WORKER,
    ZERO_LED,
    request_text,
)


def _landing_file(location, name: str, text: str) -> Path:
    return location.campaign_data.landing().write_atomic("campaigns", name, text.encode())


def _upload(location, name: str, data: bytes) -> Path:
    return location.campaign_data.landing().write_atomic("uploads", name, data)


def _run(location, name: str, text: str) -> tuple[dict, dg.JobExecutionResult]:
    """The legacy response to the request and the run that built it."""
    registered = register(location, _landing_file(location, name, text))
    admitted = registered.admitted
    result = run_job(location, "audience_job", admitted.key, tags=registered.tags,
                     run_config=registered.run_config)
    return audience_response(admitted.key, admitted.request, result), result


def _create(location, name: str, text: str) -> dict:
    return _run(location, name, text)[0]


def _table(result: dg.JobExecutionResult, node: str, entry: str) -> tuple[list, list[dict]]:
    """A table of the node's materialization metadata: its (column, type) pairs and rows."""
    (materialization,) = result.asset_materializations_for_node(node)
    table = materialization.metadata[entry]
    assert isinstance(table, dg.TableMetadataValue), f"{node}'s {entry} is not a table"
    columns = [(column.name, column.type) for column in table.schema.columns]
    return columns, [record.data for record in table.records]


def _iins(*names: str) -> list[str]:
    return [CUSTOMERS[n].iin for n in names]


def test_seed_example_request_removes_the_blacklisted_customer(location):
    response = _create(location, "seed_example.json", request_text())
    stats = response["filter_stats"]
    assert response["success"], response["message"]
    assert (stats["initial_count"], stats["blacklist_removed"], stats["final_count"]) == (3, 1, 2)
    assert stats["total_removed"] == 1 and stats["target_count"] == 2
    assert stats["bad_check_digit_kept"] == 3  # reported, not enforced: the request is not strict


def test_every_filter_together_counts_each_step(location):
    everyone = _iins(*CUSTOMERS)
    filters = {
        "blacklist_tables": [ACRM, NO_WORKER, DSSB],
        "devices": ["android", "ios"],
        "push_streams": ["Маркет"],
        "mau_only": True,
        "products": ["Кредитная карта"],
    }
    response, result = _run(
        location, "all.json", request_text(user_iins=everyone, filter_config=filters)
    )
    stats = response["filter_stats"]
    assert response["success"], response["message"]
    # 13 customers; 4 listed; web_only and no_device fail devices; payments_only fails push;
    # inactive fails MAU; ios_deposit fails the product.
    assert stats["after_blacklist"] == 9
    assert stats["after_device"] == 7
    assert stats["after_push"] == 6
    assert stats["after_mau"] == 5
    assert stats["after_product"] == stats["final_count"] == 4
    # The catalog shows the funnel once, as a table, with the legacy filter_stats beside it.
    (materialization,) = result.asset_materializations_for_node("filtered_audience")
    assert set(materialization.metadata) == {
        "funnel", "filter_stats", "blacklists_applied", "blacklist_snapshot", "dagster/row_count"
    }
    columns, funnel = _table(result, "filtered_audience", "funnel")
    assert columns == [("step", "string"), ("rows_left", "int"), ("removed", "int")]
    assert funnel == [
        {"step": "received", "rows_left": 13, "removed": None},
        {"step": "validation", "rows_left": 13, "removed": 0},
        {"step": "blacklist", "rows_left": 9, "removed": 4},
        {"step": "device", "rows_left": 7, "removed": 2},
        {"step": "push", "rows_left": 6, "removed": 1},
        {"step": "mau", "rows_left": 5, "removed": 1},
        {"step": "product", "rows_left": 4, "removed": 1},
    ]
    assert sum(step["removed"] or 0 for step in funnel) == stats["total_removed"]


def test_strict_checksum_drops_the_seed_customers(location):
    text = request_text(strict_iin_checksum=True)
    stats = _create(location, "strict.json", text)["filter_stats"]
    assert stats["invalid_iin_removed"] == 3 and stats["final_count"] == 0


def test_excel_numbers_get_their_leading_zero_back(location, tmp_path):
    book_path = tmp_path / "numbers.xlsx"
    with xlsxwriter.Workbook(book_path) as book:
        sheet = book.add_worksheet()
        sheet.write_string(0, 0, "IIN")
        sheet.write_number(1, 0, int(ZERO_LED))  # Excel keeps 11 digits
        sheet.write_number(2, 0, int(CUSTOMERS["plain"].iin))
    _upload(location, "numbers.xlsx", book_path.read_bytes())
    text = request_text(user_iins=None, user_files=["numbers.xlsx"], filter_config={})
    response = _create(location, "excel.json", text)
    assert response["filter_stats"]["leading_zeros_restored"] == 1
    assert response["filter_stats"]["final_count"] == 2
    assert ZERO_LED.startswith("0") and len(str(int(ZERO_LED))) == 11


def test_messy_csv_with_bom_semicolons_spaces_and_dashes(location):
    plain, deposit = _iins("plain", "ios_deposit")
    rows = [
        f"{plain[:4]} {plain[4:8]}-{plain[8:]};Anna",
        f" {deposit} ;Bek",
        f"{plain};dup",
        "n/a;junk",
    ]
    data = ("\ufeffИИН;Имя\n" + "\n".join(rows) + "\n").encode()
    _upload(location, "messy.csv", data)
    text = request_text(user_iins=None, user_files=["messy.csv"], filter_config={})
    response, result = _run(location, "messy.json", text)
    stats = response["filter_stats"]
    assert stats["initial_count"] == 4
    assert stats["invalid_iin_removed"] == 1 and stats["duplicates_removed"] == 1
    assert stats["final_count"] == 2
    columns, rejected = _table(result, "raw_audience", "rejected_sample")
    assert columns == [("source", "string"), ("row", "int"), ("value", "string"),
                       ("status", "string"), ("reason", "string")]
    assert [(r["source"], r["row"], r["status"]) for r in rejected] == [
        ("messy.csv", 4, "duplicate"), ("messy.csv", 5, "invalid_iin")
    ]
    # Masked: the duplicate's IIN is never in the metadata, only its first and last digits.
    assert rejected[0]["value"] == f"{plain[:2]}{'*' * 8}{plain[-2:]}"
    assert plain not in str(result.asset_materializations_for_node("raw_audience"))


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.csv", b"", "has no rows"),
        ("names.csv", b"name;city\nAnna;Almaty\n", "IIN column"),
        ("cp1251.csv", "ИИН\n850315300100\n".encode("cp1251"), "UTF-8"),
    ],
)
def test_bad_upload_fails_the_run_naming_the_file(location, name, data, expected):
    _upload(location, name, data)
    text = request_text(user_iins=None, user_files=[name])
    response = _create(location, f"bad_{name}.json", text)
    assert not response["success"]
    assert name in response["message"] and expected.lower() in response["message"].lower()
    assert (location.campaign_data.uploads_dir() / name).exists()  # the upload is kept


@pytest.mark.parametrize(
    ("field", "value"),
    [("devices", ["blackberry"]), ("products", ["Золотой слиток"]), ("push_streams", ["Спам"])],
)
def test_unknown_filter_name_is_refused_at_admission_listing_valid_names(location, field, value):
    """No run: admission refuses it (test_admission_vocabulary.py has the run's second line)."""
    path = _landing_file(location, f"unknown_{field}.json",
                         request_text(filter_config={field: value}))
    with pytest.raises(RequestError) as refused:
        register(location, path)
    [problem] = refused.value.problems
    assert problem["field"] == f"filter_config.{field}[0]" and value[0] in problem["problem"]
    assert problem["fix"].startswith("use one of: ")
    assert (path.parent / "rejected" / f"{path.name}.error.json").exists()


def test_unknown_blacklist_is_rejected_with_error_file(location):
    text = request_text(filter_config={"blacklist_tables": ["DROP TABLE users; --"]})
    with pytest.raises(RequestError):
        _create(location, "bad_blacklist.json", text)
    rejected = location.campaign_data.landing().folder("campaigns") / "rejected"
    error = json.loads((rejected / "bad_blacklist.json.error.json").read_text())
    assert error["problems"][0]["field"] == "filter_config.blacklist_tables[0]"
    assert ACRM in error["problems"][0]["fix"]
    assert (rejected / "bad_blacklist.json").exists()


def test_missing_upload_is_rejected(location):
    text = request_text(user_iins=None, user_files=["nowhere.csv"])
    with pytest.raises(RequestError, match="nowhere.csv"):
        _create(location, "missing_upload.json", text)
    rejected = location.campaign_data.landing().folder("campaigns") / "rejected"
    assert (rejected / "missing_upload.json").exists()


def test_split_is_deterministic_disjoint_and_recorded(location, data_dir):
    control = {"share": 0.5, "stratify_by": ["device", "mau"]}
    text = request_text(user_iins=_iins(*CUSTOMERS), filter_config={}, control_group=control)
    first, result = _run(location, "split.json", text)
    split_path = data_dir / "assets" / "audience_split" / "split.parquet"
    before = pl.read_parquet(split_path).sort("iin")
    second = _create(location, "split.json", text)
    after = pl.read_parquet(split_path).sort("iin")
    assert before.equals(after)
    assert first["filter_stats"] == second["filter_stats"]
    # filter_config {} still applies every configured blacklist: 13 customers, 4 listed.
    assert first["filter_stats"]["control_count"] + first["filter_stats"]["target_count"] == 9
    assert set(before["group"]) == {"target", "control"}
    columns, strata = _table(result, "audience_split", "strata")
    assert columns == [("stratum", "string"), ("size", "int"), ("target", "int"),
                       ("control", "int")]
    assert [s["stratum"] for s in strata] == sorted(set(before["stratum"]))
    assert all(s["target"] + s["control"] == s["size"] for s in strata)
    assert sum(s["size"] for s in strata) == first["filter_stats"]["final_count"] == 9
    assert sum(s["control"] for s in strata) == first["filter_stats"]["control_count"]


def test_run_appears_in_the_instance_history(location):
    response = _create(location, "history.json", request_text())
    run = location.instance.get_run_by_id(response["run_id"])
    assert run.job_name == "audience_job" and run.tags["dagster/partition"] == "history"


def test_an_upload_replaced_after_admission_is_refused_by_the_run(location):
    plain = CUSTOMERS["plain"].iin
    upload = _upload(location, "list.csv", f"iin\n{plain}\n".encode())
    text = request_text(user_iins=None, user_files=["list.csv"], filter_config={})
    registered = register(location, _landing_file(location, "listed.json", text))
    upload.unlink()
    _upload(location, "list.csv", f"iin\n{ZERO_LED}\n".encode())  # another list, same name

    result = run_job(location, "audience_job", registered.admitted.key, tags=registered.tags,
                     run_config=registered.run_config)

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    assert "list.csv: changed since the request naming it was admitted" in (
        failure.user_failure_data.description)


def test_the_same_request_over_another_upload_is_another_version(location, tmp_path):
    from campaign_pipelines.core.admission import AdmissionRefused

    _upload(location, "list.csv", f"iin\n{CUSTOMERS['plain'].iin}\n".encode())
    text = request_text(user_iins=None, user_files=["list.csv"], filter_config={})
    request = tmp_path / "listed.json"
    request.write_text(text, encoding="utf-8")
    first = register(location, request)
    (location.campaign_data.uploads_dir() / "list.csv").unlink()
    _upload(location, "list.csv", f"iin\n{ZERO_LED}\n".encode())
    with pytest.raises(AdmissionRefused):
        register(location, request)
    second = register(location, request, replace=True)
    assert second.admitted.version != first.admitted.version
