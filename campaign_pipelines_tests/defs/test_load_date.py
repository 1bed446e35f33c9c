"""One LOAD_DATE per deployment: every table of one run holds the run's creation time."""

from datetime import UTC

import duckdb
import polars as pl

from campaign_pipelines.core import deployment as tables
from campaign_pipelines.service import register, run_job
from campaign_pipelines_tests.bank import CUSTOMERS, request_text


def _load_dates(data_dir, code: str) -> dict[str, set]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return {
            table.name: {
                row[0]
                for row in connection.execute(
                    f"SELECT LOAD_DATE FROM {table.qualified} WHERE CAMPAIGNCODE = $c",  # noqa: S608
                    {"c": code},
                ).fetchall()
            }
            for table in tables.DEPLOYMENT_TABLES
        }


def test_every_table_of_one_deployment_holds_the_runs_load_date(location, data_dir):
    everyone = [c.iin for c in CUSTOMERS.values()]
    text = request_text(
        campaign_type="RB3", user_iins=everyone, filter_config={}, control_group={"share": 0.3}
    )
    path = data_dir.parent / "load_date.json"
    path.write_text(text, encoding="utf-8")
    registered = register(location, path)
    result = run_job(
        location,
        "campaign_job",
        registered.admitted.key,
        tags=registered.tags,
        run_config=registered.run_config,
    )
    assert result.success
    registry = location.warehouse.deployment().registry()
    code = registry.filter(pl.col("campaign_key") == registered.admitted.key)["campaign_code"][0]

    dates = _load_dates(data_dir, code)
    assert dates.pop("mb01_camp_dict") == set()  # an RB3 campaign's metadata lives elsewhere
    assert all(len(held) == 1 for held in dates.values()), dates  # five tables, one LOAD_DATE
    (load_date,) = set.union(*dates.values())
    # The run's creation time, naive UTC: what a retried step of the same run writes again.
    created = location.instance.get_run_record_by_id(result.run_id).create_timestamp
    assert load_date == created.astimezone(UTC).replace(tzinfo=None)
