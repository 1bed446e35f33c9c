"""A reference refresh that cannot work fails saying what to fix: a source SQL returning the
wrong columns, a reference config that is not what it must be, a dataset read before it was
ever materialized. Each through Dagster with the real assets, the known bank and the messages
`campaigns` prints (responses.failure_messages)."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from campaign_pipelines.adapters.reference_config import (
    default_config_path,
    load_reference_config,
)
from campaign_pipelines.core.blacklist import extract_blacklists
from campaign_pipelines.core.reference import ReferenceShapeError
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.reference import assets
from campaign_pipelines.defs.resources import DuckDBWarehouseResource
from campaign_pipelines.responses import failure_messages

REFERENCE = [assets.reference_blacklist, assets.reference_devices,
             assets.reference_push_preferences, assets.reference_mau, assets.reference_products,
             assets.customer_profile]


def _refresh(data_dir: Path, config: Path, **kwargs) -> dg.ExecuteInProcessResult:
    resources = {
        "warehouse": DuckDBWarehouseResource(database=str(data_dir / "warehouse.duckdb"),
                                             reference_config_path=str(config)),
        "io_manager": ParquetIOManager(base_dir=str(data_dir / "assets")),
    }
    return dg.materialize(REFERENCE, resources=resources, raise_on_error=False, **kwargs)


def _config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = default_config_path("duckdb").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "reference.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_shipped_config_refreshes(data_dir):
    """The baseline the failures below depart from: the same call succeeds."""
    assert _refresh(data_dir, default_config_path("duckdb")).success


def test_a_source_returning_the_wrong_columns_names_the_dataset_and_the_columns(
    data_dir, tmp_path
):
    config = _config_with(tmp_path, "SELECT iin, device FROM sources.client_devices",
                          "SELECT iin, device AS platform FROM sources.client_devices")
    result = _refresh(data_dir, config)
    assert not result.success
    [message] = failure_messages(result)
    assert message.startswith("reference__devices: ")
    assert "reference dataset 'devices' returned columns ['iin', 'platform']" in message
    assert "missing ['device']: make its SQL return iin and device" in message
    # The other sources were extracted; only what needs devices did not run.
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"reference/blacklist", "reference/mau", "reference/products"} <= done
    assert "reference/customer_profile" not in done


def test_a_blacklist_source_without_an_iin_column_is_named():
    fetch = {"SELECT source FROM bl": pl.DataFrame({"source": ["x"]})}.__getitem__
    with pytest.raises(ReferenceShapeError) as refused:
        extract_blacklists(fetch, {"BL_No_worker": "SELECT source FROM bl"})
    assert str(refused.value) == (
        "reference dataset 'blacklist' returned columns ['source'], missing ['iin']: "
        "make its SQL return iin and source")


def test_a_config_missing_a_dataset_names_the_file_and_what_is_missing(data_dir, tmp_path):
    config = _config_with(tmp_path, "  mau: SELECT iin, month FROM sources.mau\n", "")
    result = _refresh(data_dir, config)
    assert not result.success
    messages = failure_messages(result)
    assert messages  # every reference asset reads the config; each says the same
    for message in messages:
        assert f"reference config {config} needs 'blacklists' (name: SQL)" in message
        assert "missing: ['mau']" in message


def test_a_config_without_blacklists_says_so(tmp_path):
    config = _config_with(tmp_path, "blacklists:", "old_blacklists:")
    with pytest.raises(ValueError, match=r"needs 'blacklists' \(name: SQL\).*missing: "
                       r"\['blacklists'\]"):
        load_reference_config(config)


def test_a_config_file_that_does_not_exist_is_named(tmp_path):
    absent = tmp_path / "absent.yaml"
    with pytest.raises(ValueError) as refused:
        load_reference_config(absent)
    assert str(refused.value) == (
        f"reference config {absent} does not exist: point it at a YAML file")


def test_a_config_that_is_not_yaml_names_the_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("blacklists:\n  ACRM: [SELECT iin\ndatasets: {\n", encoding="utf-8")
    with pytest.raises(ValueError, match=str(broken)):
        load_reference_config(broken)


def test_the_profile_before_any_refresh_says_to_materialize_its_inputs_first(data_dir):
    result = _refresh(data_dir, default_config_path("duckdb"),
                      selection=[assets.customer_profile])
    assert not result.success
    [message] = failure_messages(result)
    assert message.startswith("customer_profile: reference/blacklist has not been materialized "
                              "yet (")
    assert str(data_dir / "assets" / "reference" / "blacklist" / "__all__.parquet") in message
    assert message.endswith("materialize reference/blacklist first (reference_refresh_job)")
