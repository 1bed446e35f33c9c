"""Deployment to the six tables on a real DuckDB file: exactly once, table by table."""

import re

import dagster as dg
import duckdb
import polars as pl

from campaign_pipelines.core import deployment as tables
from campaign_pipelines.responses import campaign_response
from campaign_pipelines.service import register, run_job
from campaign_pipelines_tests.bank import CUSTOMERS, request_text

USER_TABLES = (
    tables.MB22_LOCAL_TARGET,
    tables.FD_RB2_CAMPAIGNS_USERS,
    tables.OFF_LIMIT_CAMPAIGNS_USERS,
)


def _deploy(location, name: str, text: str) -> dict:
    # Outside the landing zone, as `campaigns create FILE` is mostly used.
    folder = location.campaign_data.root().parent / "incoming"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    registered = register(location, path)
    key, request = registered.admitted.key, registered.admitted.request
    result = run_job(
        location, "campaign_job", key, tags=registered.tags, run_config=registered.run_config
    )
    return campaign_response(key, request, result)


def _rows(data_dir, table: tables.Table, code: str) -> int:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(
            f"SELECT COUNT(*) FROM {table.qualified} WHERE CAMPAIGNCODE = $code",  # noqa: S608
            {"code": code},
        ).fetchone()[0]


def _materialized(location, table: tables.Table, key: str) -> list[dict]:
    """The metadata of each materialization of ``table`` for partition ``key``, oldest first."""
    found = location.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([table.schema, table.name]), asset_partitions=[key]
        ),
        limit=100,
        ascending=True,
    ).records
    return [
        {k: getattr(v, "value", v) for k, v in r.asset_materialization.metadata.items()}
        for r in found
    ]


def test_seed_example_deploys_to_the_legacy_tables_and_again_keeps_its_code(location, data_dir):
    body = _deploy(location, "seed.json", request_text())
    assert body["success"], body["message"]
    code = body["campaign_code"]
    assert re.fullmatch(r"C\d{9}", code)
    assert body["deployment_result"]["tables_updated"] == [
        "dssb_ocds.mb01_camp_dict",
        "dssb_ocds.mb22_local_target",
        "spss.fd_rb2_campaigns_users",
        "spss.off_limit_campaigns_users",
    ]
    assert body["deployment_result"]["total_users"] == 2
    assert _rows(data_dir, tables.MB01_CAMP_DICT, code) == 1
    assert all(_rows(data_dir, t, code) == 2 for t in USER_TABLES)
    assert body["message"] == f"Successfully created RB1 campaign {code}"

    again = _deploy(location, "seed.json", request_text())  # replaced, never duplicated
    assert again["campaign_code"] == code
    assert _rows(data_dir, tables.MB01_CAMP_DICT, code) == 1
    assert [_rows(data_dir, t, code) for t in USER_TABLES] == [2, 2, 2]
    # The catalog shows what the tables hold: each deployment's rows, and nothing for the RB3
    # dictionary of an RB1 campaign or the control table of a request without a control group.
    key = body["campaign_key"]
    target = _materialized(location, tables.MB22_LOCAL_TARGET, key)
    assert [m["dagster/row_count"] for m in target] == [2, 2]
    assert _materialized(location, tables.RB3_TR_CAMPAIGN_DICT, key) == []
    assert _materialized(location, tables.MB21_LOCAL_CONTROL, key) == []


def test_rb3_gets_an_xls_id_and_switching_to_rb1_keeps_it_reserved(location, data_dir):
    rb3 = _deploy(
        location, "switch.json", request_text(campaign_type="RB3", control_group={"share": 0.5})
    )
    code, key = rb3["campaign_code"], rb3["campaign_key"]
    assert re.fullmatch(r"KKB_\d{4}", rb3["xls_ow_id"])
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        stored = connection.execute(
            "SELECT XLS_OW_ID FROM dssb_ocds.rb3_tr_campaign_dict WHERE CAMPAIGNCODE = $c",
            {"c": code},
        ).fetchall()
    assert stored == [(rb3["xls_ow_id"],)]
    assert "dssb_ocds.mb01_camp_dict" not in rb3["deployment_result"]["tables_updated"]
    assert _materialized(location, tables.MB01_CAMP_DICT, key) == []
    assert _rows(data_dir, tables.MB21_LOCAL_CONTROL, code) == 1

    # The replacing request drops the control group: the rows go, and so does what the
    # catalog showed, with a row count of 0 and the reason; the same for the RB3 dictionary.
    rb1 = _deploy(location, "switch.json", request_text(campaign_type="RB1", replaces="switch"))
    assert rb1["success"], rb1["message"]
    assert rb1["campaign_code"] == code and rb1.get("xls_ow_id") is None
    assert _rows(data_dir, tables.RB3_TR_CAMPAIGN_DICT, code) == 0
    assert _rows(data_dir, tables.MB01_CAMP_DICT, code) == 1
    assert _rows(data_dir, tables.MB21_LOCAL_CONTROL, code) == 0
    control = _materialized(location, tables.MB21_LOCAL_CONTROL, key)
    assert [m["dagster/row_count"] for m in control] == [1, 0]
    assert control[-1]["reason"].startswith("the request has no control group")
    dictionary = _materialized(location, tables.RB3_TR_CAMPAIGN_DICT, key)
    assert [m["dagster/row_count"] for m in dictionary] == [1, 0]
    assert "dssb_ocds.mb21_local_control" not in rb1["deployment_result"]["tables_updated"]

    back = _deploy(location, "switch.json", request_text(campaign_type="RB3", replaces="switch"))
    assert back["xls_ow_id"] == rb3["xls_ow_id"]  # its own id again, not the next one
    # The catalog already shows no control rows: nothing more to say there.
    assert len(_materialized(location, tables.MB21_LOCAL_CONTROL, key)) == 2
    assert [
        m["dagster/row_count"] for m in _materialized(location, tables.MB01_CAMP_DICT, key)
    ] == [
        1,
        0,
    ]


def test_a_broken_table_is_named_and_the_others_still_deploy(location, data_dir):
    db = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(db)) as connection:
        connection.execute("ALTER TABLE spss.fd_rb2_campaigns_users DROP COLUMN CHANNEL")
    broken = _deploy(location, "broken.json", request_text())
    result = broken["deployment_result"]
    assert not broken["success"] and not result["success"]
    assert len(result["errors"]) == 1
    assert result["errors"][0].startswith("fd_rb2_campaigns_users:")
    assert "fd_rb2_campaigns_users" in result["errors"][0].split(":", 1)[1]
    assert "spss.off_limit_campaigns_users" in result["tables_updated"]
    assert "dssb_ocds.mb22_local_target" in result["tables_updated"]

    with duckdb.connect(str(db)) as connection:  # the fix: the table as `db init` makes it
        connection.execute("DROP TABLE spss.fd_rb2_campaigns_users")
    location.warehouse.deployment().init_schema()
    fixed = _deploy(location, "broken.json", request_text())
    assert fixed["success"] and fixed["campaign_code"] == broken["campaign_code"]
    assert [_rows(data_dir, t, fixed["campaign_code"]) for t in USER_TABLES] == [2, 2, 2]


def test_deploy_options_leave_tables_untouched(location, data_dir):
    options = {
        "deploy_metadata": True,
        "deploy_targeting": True,
        "deploy_users": False,
        "deploy_offlimit": False,
    }
    body = _deploy(location, "partial.json", request_text(deploy_options=options))
    assert body["deployment_result"]["tables_updated"] == [
        "dssb_ocds.mb01_camp_dict",
        "dssb_ocds.mb22_local_target",
    ]
    assert _rows(data_dir, tables.FD_RB2_CAMPAIGNS_USERS, body["campaign_code"]) == 0
    key = body["campaign_key"]
    assert _materialized(location, tables.FD_RB2_CAMPAIGNS_USERS, key) == []
    assert _materialized(location, tables.OFF_LIMIT_CAMPAIGNS_USERS, key) == []


def test_control_group_goes_to_its_own_table(location, data_dir):
    everyone = [c.iin for c in CUSTOMERS.values()]
    text = request_text(user_iins=everyone, filter_config={}, control_group={"share": 0.3})
    body = _deploy(location, "control.json", text)
    code = body["campaign_code"]
    control = _rows(data_dir, tables.MB21_LOCAL_CONTROL, code)
    target = _rows(data_dir, tables.MB22_LOCAL_TARGET, code)
    assert control == body["filter_stats"]["control_count"] > 0
    assert target + control == body["filter_stats"]["final_count"]
    assert _rows(data_dir, tables.OFF_LIMIT_CAMPAIGNS_USERS, code) == target + control


def test_delete_removes_every_row_and_keeps_the_registry_entry(location, data_dir):
    body = _deploy(location, "gone.json", request_text(control_group={"share": 0.5}))
    code = body["campaign_code"]
    removed = location.warehouse.deployment().delete_campaign(code)
    assert sum(removed.values()) > 0
    assert all(_rows(data_dir, t, code) == 0 for t in tables.DEPLOYMENT_TABLES)
    registry = location.warehouse.deployment().registry()
    assert registry.filter(pl.col("campaign_code") == code)["deleted_at"][0] is not None


def test_off_limit_removes_users_held_by_an_overlapping_campaign(location):
    """End to end; the window's edges are tested on the warehouse alone
    (adapters/test_off_limit_window.py)."""
    _deploy(location, "first.json", request_text())
    text = request_text(off_limit_days=30)
    second = _deploy(location, "second.json", text)
    stats = second["filter_stats"]
    assert stats["after_product"] == 2 and stats["after_off_limit"] == 0


def test_an_audience_filtered_to_nobody_says_so(location, data_dir):
    body = _deploy(location, "empty.json", request_text(user_iins=[CUSTOMERS["seed_1"].iin]))
    assert body["filter_stats"]["final_count"] == 0
    assert body["deployment_result"]["total_users"] == 0
    assert "0 users" in body["message"]
    assert all(_rows(data_dir, t, body["campaign_code"]) == 0 for t in USER_TABLES)


def test_a_registry_failure_fails_the_deployment_and_names_every_table_left_unwritten(
    location, data_dir
):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as connection:
        connection.execute("ALTER TABLE campaign_ops.campaign_registry DROP COLUMN channel")
    body = _deploy(location, "no_registry.json", request_text())
    result = body["deployment_result"]
    assert not body["success"] and not result["success"]
    assert result["tables_updated"] == []
    registry, *tables_left = result["errors"]
    assert registry.startswith("campaign_ops.campaign_registry: ")
    assert "channel" in registry
    assert [line.split(":")[0] for line in tables_left] == [
        t.name for t in tables.DEPLOYMENT_TABLES
    ]
    assert all("not written: campaign_codes failed" in line for line in tables_left)


def test_a_switched_off_table_is_not_an_error_when_the_registry_fails(location, data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as connection:
        connection.execute("ALTER TABLE campaign_ops.campaign_registry DROP COLUMN channel")
    options = {"deploy_users": False, "deploy_offlimit": False}
    result = _deploy(location, "off.json", request_text(deploy_options=options))
    named = [line.split(":")[0] for line in result["deployment_result"]["errors"]]
    assert "fd_rb2_campaigns_users" not in named and "off_limit_campaigns_users" not in named
    assert "mb22_local_target" in named


def test_everyone_left_in_the_control_group_is_not_called_filtered_out(location, data_dir):
    text = request_text(user_iins=[CUSTOMERS["seed_3"].iin], control_group={"share": 0.6})
    body = _deploy(location, "all_control.json", text)
    stats = body["filter_stats"]
    assert (stats["final_count"], stats["target_count"], stats["control_count"]) == (1, 0, 1)
    assert body["success"], body["message"]
    assert "filtered out" not in body["message"]
    assert "0 target users and 1 in the control group" in body["message"]
    assert _rows(data_dir, tables.MB21_LOCAL_CONTROL, body["campaign_code"]) == 1


def test_a_failed_metadata_table_stops_no_user_table(location, data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as connection:
        connection.execute("ALTER TABLE dssb_ocds.mb01_camp_dict DROP COLUMN CAMPAIGN_DESC")
    body = _deploy(location, "no_meta.json", request_text())
    result = body["deployment_result"]
    assert not body["success"] and [e.split(":")[0] for e in result["errors"]] == ["mb01_camp_dict"]
    assert result["tables_updated"] == [
        "dssb_ocds.mb22_local_target",
        "spss.fd_rb2_campaigns_users",
        "spss.off_limit_campaigns_users",
    ]
    assert [_rows(data_dir, t, body["campaign_code"]) for t in USER_TABLES] == [2, 2, 2]


def test_codes_end_the_audiences_group_but_a_dry_run_allocates_none():
    from campaign_pipelines.definitions import defs

    loaded = defs()
    graph = loaded.resolve_asset_graph()
    assert graph.get(dg.AssetKey("campaign_codes")).group_name == "audiences"
    dry_run = loaded.resolve_job_def("audience_job").asset_layer.selected_asset_keys
    assert dg.AssetKey("audience_split") in dry_run
    assert dg.AssetKey("campaign_codes") not in dry_run
    # The tables read the request through the codes: no edge from the request to a table.
    for table in tables.DEPLOYMENT_TABLES:
        parents = graph.get(dg.AssetKey([table.schema, table.name])).parent_keys
        assert dg.AssetKey("campaign_codes") in parents
        assert dg.AssetKey("campaign_request") not in parents
