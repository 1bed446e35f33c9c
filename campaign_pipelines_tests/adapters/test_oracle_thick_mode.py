"""Thick mode opt-in: ORACLE_CLIENT_LIB_DIR makes the process's first pool load Oracle Client
first, once; unset, python-oracledb stays in thin mode and Oracle Client is never loaded."""

import threading
from typing import Any

import oracledb
import pytest

from campaign_pipelines.adapters.warehouse import oracle_connections
from campaign_pipelines.defs.resources import OracleWarehouseResource, build_resources
from campaign_pipelines.defs.settings import read_settings

DSN, USER, PASSWORD = "db:1521/free", "campaigns", "secret"  # noqa: S105
LIB_DIR = "/opt/oracle/instantclient_23_7"


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, Any]]:
    """Every init_oracle_client and create_pool call, in order, in a process that has no pool
    and has not loaded Oracle Client."""
    made: list[tuple[str, Any]] = []
    monkeypatch.setattr(oracle_connections, "_POOLS", {})
    monkeypatch.setattr(oracle_connections, "_CLIENT", {"lib_dir": None, "loaded_from": None})
    monkeypatch.setattr(oracledb, "init_oracle_client",
                        lambda **kwargs: made.append(("init_oracle_client", kwargs)))
    monkeypatch.setattr(oracledb, "create_pool",
                        lambda **kwargs: made.append(("create_pool", kwargs["dsn"])) or object())
    return made


def test_a_lib_dir_loads_oracle_client_once_before_the_first_pool(calls):
    oracle_connections.use_client_libraries(LIB_DIR)
    oracle_connections.process_pool(DSN, USER, PASSWORD)
    oracle_connections.process_pool(DSN, "other_user", PASSWORD)
    oracle_connections.process_pool(DSN, USER, PASSWORD)  # the same pool again
    assert calls == [("init_oracle_client", {"lib_dir": LIB_DIR}),
                     ("create_pool", DSN), ("create_pool", DSN)]


def test_threads_making_the_first_pools_at_once_load_oracle_client_once(calls):
    oracle_connections.use_client_libraries(LIB_DIR)
    start = threading.Barrier(8)

    def first_pool(n: int) -> None:
        start.wait()
        oracle_connections.process_pool(DSN, f"user{n}", PASSWORD)

    threads = [threading.Thread(target=first_pool, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [name for name, _ in calls].count("init_oracle_client") == 1
    assert calls[0] == ("init_oracle_client", {"lib_dir": LIB_DIR})
    assert len(calls) == 9


def test_without_a_lib_dir_oracle_client_is_never_loaded(calls):
    oracle_connections.use_client_libraries(None)
    oracle_connections.process_pool(DSN, USER, PASSWORD)
    assert calls == [("create_pool", DSN)]


def test_oracle_client_that_cannot_load_names_the_variable_and_makes_no_pool(calls, monkeypatch):
    def missing(**_: Any) -> None:
        raise oracledb.DatabaseError("DPI-1047: Cannot locate a 64-bit Oracle Client library")

    monkeypatch.setattr(oracledb, "init_oracle_client", missing)
    oracle_connections.use_client_libraries("/nowhere")
    with pytest.raises(oracledb.DatabaseError, match="DPI-1047") as raised:
        oracle_connections.process_pool(DSN, USER, PASSWORD)
    note = " ".join(raised.value.__notes__)
    assert "ORACLE_CLIENT_LIB_DIR=/nowhere" in note
    assert "Instant Client" in note and "thin mode" in note
    assert calls == []


def test_the_setting_reaches_the_oracle_resource_and_its_adapter_asks_for_thick_mode(
        monkeypatch, calls):
    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", "oracle")
    monkeypatch.setenv("ORACLE_CLIENT_LIB_DIR", LIB_DIR)
    settings = read_settings()
    assert str(settings.oracle_client_lib_dir) == LIB_DIR
    resource = build_resources(settings=settings)["warehouse"]
    assert isinstance(resource, OracleWarehouseResource)
    assert resource.client_lib_dir == LIB_DIR
    OracleWarehouseResource(dsn=DSN, user=USER, password=PASSWORD, reference_config_path="-",
                            client_lib_dir=LIB_DIR).adapter()
    assert calls == []  # nothing loads before a pool is needed
    assert oracle_connections._CLIENT["lib_dir"] == LIB_DIR


def test_unset_the_resource_stays_thin(monkeypatch, calls):
    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", "oracle")
    monkeypatch.delenv("ORACLE_CLIENT_LIB_DIR", raising=False)
    resource = build_resources(settings=read_settings())["warehouse"]
    assert isinstance(resource, OracleWarehouseResource)
    assert resource.client_lib_dir == ""
    resource.model_copy(update={"dsn": DSN, "user": USER, "password": PASSWORD}).adapter()
    oracle_connections.process_pool(DSN, USER, PASSWORD)
    assert calls == [("create_pool", DSN)]
