"""The local instance's storage (instance_storage.py): Dagster's files, in the instance's own home,
connections kept, and what was committed survives a killed process."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import dagster as dg

from campaign_pipelines import instance_storage
from campaign_pipelines.service import INSTANCE_SETTINGS


def _home(path: Path) -> Path:
    path.mkdir()
    shutil.copy(INSTANCE_SETTINGS, path / "dagster.yaml")
    return path


def _add_run(instance: dg.DagsterInstance, job_name: str) -> str:
    run = instance.add_run(dg.DagsterRun(job_name=job_name, run_id=str(uuid.uuid4())))
    instance.report_engine_event("made by a test", run)
    return run.run_id


def test_an_instance_keeps_its_storage_in_its_own_home_whatever_dagster_home_says(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path / "elsewhere")))
    home = _home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, instance_storage.LocalRunStorage)
        assert isinstance(instance.event_log_storage, instance_storage.LocalEventLogStorage)
        run_id = _add_run(instance, "kept_here")
    assert (home / "history" / "runs.db").exists()
    assert (home / "history" / "runs" / f"{run_id}.db").exists()
    assert not (tmp_path / "elsewhere" / "history").exists()
    with dg.DagsterInstance.from_config(str(home)) as reopened:
        assert [r.job_name for r in reopened.get_runs()] == ["kept_here"]
        assert [e.dagster_event.message for e in reopened.all_logs(run_id)] == ["made by a test"]


def test_a_home_made_with_dagsters_default_storage_keeps_its_history(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as default:  # no dagster.yaml: the default
        assert not isinstance(default.run_storage, instance_storage.LocalRunStorage)
        run_id = _add_run(default, "from_before")
    shutil.copy(INSTANCE_SETTINGS, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, instance_storage.LocalRunStorage)
        assert [r.run_id for r in instance.get_runs()] == [run_id]
        assert [e.dagster_event.message for e in instance.all_logs(run_id)] == ["made by a test"]


def test_engines_past_the_bound_are_closed_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setattr(instance_storage, "OPEN_DATABASES", 3)
    with dg.DagsterInstance.from_config(str(_home(tmp_path / "home"))) as instance:
        run_ids = [_add_run(instance, f"job_{n}") for n in range(6)]
        engines = instance.event_log_storage._engines._open  # noqa: SLF001
        assert len(engines) == 3
        assert str(engines.keys()).count(run_ids[-1]) == 1  # the latest run's is still open
        assert all(len(instance.all_logs(run_id)) == 1 for run_id in run_ids)


# Writes events one by one, saying how many are committed, until it is killed.
_WRITER = textwrap.dedent("""
    import sys, uuid, dagster as dg
    with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
        run = instance.add_run(dg.DagsterRun(job_name="killed", run_id=str(uuid.uuid4())))
        print(run.run_id, flush=True)
        for n in range(100000):
            instance.report_engine_event(f"event {n}", run)
            print(n, flush=True)
""")


def test_every_event_committed_before_a_sigkill_is_there_after_it(tmp_path):
    home = _home(tmp_path / "home")
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(home)],
                              stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert writer.stdout is not None
    run_id = writer.stdout.readline().strip()
    committed = -1
    while committed < 200:
        committed = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        stored = [e.dagster_event.message for e in instance.all_logs(run_id)]
    assert stored[: committed + 1] == [f"event {n}" for n in range(committed + 1)]


def test_a_partition_found_is_not_asked_for_again_and_a_deleted_one_is_gone(
    tmp_path, monkeypatch
):
    home = _home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as here, \
            dg.DagsterInstance.from_config(str(home)) as other:
        asked = []
        storage = here.event_log_storage
        real = instance_storage.SqliteEventLogStorage.has_dynamic_partition
        monkeypatch.setattr(instance_storage.SqliteEventLogStorage, "has_dynamic_partition",
                            lambda self, name, key: asked.append(key) or real(self, name, key))
        assert not storage.has_dynamic_partition("campaigns", "spring")
        here.add_dynamic_partitions("campaigns", ["spring"])
        assert all(storage.has_dynamic_partition("campaigns", "spring") for _ in range(50))
        assert asked == ["spring", "spring"]  # absent is asked again; present, once
        here.delete_dynamic_partition("campaigns", "spring")
        assert not storage.has_dynamic_partition("campaigns", "spring")  # deleted here: at once

        here.add_dynamic_partitions("campaigns", ["summer"])
        assert storage.has_dynamic_partition("campaigns", "summer")
        other.delete_dynamic_partition("campaigns", "summer")  # by another process's instance
        assert storage.has_dynamic_partition("campaigns", "summer")  # within PARTITION_SEEN_S
        monkeypatch.setattr(instance_storage, "PARTITION_SEEN_S", 0.0)
        assert not storage.has_dynamic_partition("campaigns", "summer")
        assert storage.has_table("dynamic_partitions") and not storage.has_table("no_such")
