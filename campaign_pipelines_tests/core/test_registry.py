"""Campaign status from the dates, in the bank's calendar."""

from datetime import UTC, date, datetime

import polars as pl

from campaign_pipelines.core.registry import (
    bank_date,
    campaign_details,
    campaign_list,
    deployment_state,
    with_status,
)


def test_status_follows_the_dates_and_deletion():
    registry = pl.DataFrame({
        "date_start": [date(2026, 12, 1), date(2026, 11, 1), date(2026, 11, 1), date(2026, 10, 1),
                       date(2026, 11, 1)],
        "date_end": [date(2026, 12, 31), date(2026, 11, 28), date(2026, 11, 30),
                     date(2026, 10, 31), date(2026, 11, 30)],
        "deleted_at": [None, None, None, None, datetime(2026, 11, 2)],
    })
    statuses = with_status(registry, date(2026, 11, 28))["status"].to_list()
    assert statuses == ["Scheduled", "Active", "Active", "Finished", "Deleted"]


def test_the_bank_date_is_almatys_not_utcs():
    assert bank_date(datetime(2026, 11, 28, 20, 30, tzinfo=UTC)) == date(2026, 11, 29)  # +05:00
    assert bank_date(datetime(2026, 11, 28, 18, 59, tzinfo=UTC)) == date(2026, 11, 28)


# --- what is deployed, per table ----------------------------------------------------------

TARGET, META, CONTROL = (
    "dssb_ocds.mb22_local_target",
    "dssb_ocds.mb01_camp_dict",
    "dssb_ocds.mb21_local_control",
)
LOADED = datetime(2026, 11, 28, 9, 30)


def _ledger(*rows: tuple[str, str, str | None, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"campaign_code": code, "table_name": table, "request_version": version,
             "row_count": count, "loaded_at": LOADED}
            for code, table, version, count in rows
        ],
        schema={"campaign_code": pl.String, "table_name": pl.String,
                "request_version": pl.String, "row_count": pl.Int64,
                "loaded_at": pl.Datetime("us")},
    )


def _campaign(version: str | None = "v2", tables: str | None = f"{META},{TARGET}") -> dict:
    return {"campaign_code": "C000000042", "request_version": version, "deploy_tables": tables}


def test_deployed_when_every_table_the_request_writes_holds_its_version():
    ledger = _ledger(("C000000042", META, "v2", 1), ("C000000042", TARGET, "v2", 5),
                     ("C000000042", CONTROL, "v1", 3), ("C000000099", TARGET, "v9", 7))
    state = deployment_state(_campaign(), ledger)
    assert state["state"] == "deployed"
    assert state["tables"][TARGET] == {"request_version": "v2", "rows": 5, "loaded_at": LOADED}
    # a table the request leaves alone (deploy_options) is reported but does not count
    assert state["tables"][CONTROL]["request_version"] == "v1"


def test_partial_names_which_table_holds_which_version_and_how_to_repair():
    ledger = _ledger(("C000000042", META, "v2", 1), ("C000000042", TARGET, "v1", 2))
    state = deployment_state(_campaign(), ledger)
    assert state["state"] == "partial"
    message = state["message"]
    assert f"{META} holds version v2" in message and f"{TARGET} holds version v1" in message
    assert "the registry describes version v2" in message
    assert "rerun `campaigns create FILE` with the same request to repair" in message


def test_partial_when_a_table_holds_nothing_of_the_campaign():
    state = deployment_state(_campaign(), _ledger(("C000000042", META, "v2", 1)))
    assert state["state"] == "partial"
    assert f"{TARGET} holds nothing of this campaign" in state["message"]
    assert state["tables"][TARGET] == {"request_version": None, "rows": None, "loaded_at": None}


def test_not_deployed_when_no_table_holds_anything():
    state = deployment_state(_campaign(), _ledger())
    assert state["state"] == "not deployed"
    assert "campaigns create FILE" in state["message"]


def test_a_campaign_registered_before_the_ledger_is_unrecorded_not_guessed():
    state = deployment_state(_campaign(version=None, tables=None), _ledger())
    assert state["state"] == "unrecorded"
    assert "rerun `campaigns create FILE`" in state["message"]


def test_list_and_details_carry_the_deployment_state():
    registry = pl.DataFrame({
        "campaign_code": ["C000000042"], "campaign_type": ["RB1"], "campaign_name": ["A"],
        "stream": ["s"], "channel": ["Push"], "date_start": [date(2026, 12, 1)],
        "date_end": [date(2026, 12, 31)], "user_count": [5], "created_at": [LOADED],
        "deleted_at": [None], "request_version": ["v2"], "deploy_tables": [f"{META},{TARGET}"],
    })
    ledger = _ledger(("C000000042", META, "v2", 1), ("C000000042", TARGET, "v2", 5))
    listed = campaign_list(registry, date(2026, 11, 28), ledger=ledger)["campaigns"][0]
    assert listed["deployment"]["state"] == "deployed"
    shown = campaign_details(registry, "C000000042", date(2026, 11, 28), ledger=ledger)
    assert shown["deployment"]["tables"][TARGET]["rows"] == 5
