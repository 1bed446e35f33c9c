"""Pool slots and dead or interrupted `campaigns` processes, with real processes and signals.

The pool ``warehouse`` has one slot (dagster.yaml). A `campaigns create` killed while one of its
steps holds it must not block the next one; a create waiting for it says who holds it and stops
on Ctrl-C, giving back what it had queued for.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.templates import campaigns_here, use_cli_template

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))
POOL = "warehouse"
TARGET_STEP = "dssb_ocds__mb22_local_target"
WAITING = f"waiting for a slot of pool '{POOL}', held by run "

# A run of another job whose one step holds the slot as long as it is told to.
_HOLDER = """
import sys, time
import dagster as dg

@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["spring"]), pool="warehouse")
def warehouse_holder() -> None:
    print("holding", flush=True)
    time.sleep(float(sys.argv[1]))

job = dg.define_asset_job("warehouse_holder_job", selection=[warehouse_holder])
defs = dg.Definitions(assets=[warehouse_holder], jobs=[job])
with dg.DagsterInstance.get() as instance:
    defs.resolve_job_def("warehouse_holder_job").execute_in_process(
        instance=instance, partition_key="spring")
"""


# `campaigns create FILE MARKER [RESUME]` whose target-table step, once its rows are inserted
# and before its COMMIT, writes MARKER and then waits (until RESUME exists, if given), holding
# the pool's slot: a step that is certainly running when the test kills or interrupts the
# process or looks at what it holds, whatever the host's speed.
PAUSED_CREATE = """
import sys, time
from pathlib import Path
from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.cli import main

record_load = statements.record_load

def paused(run, table, *args):
    if table is tables.MB22_LOCAL_TARGET:
        Path(sys.argv[2]).write_text("loading", encoding="utf-8")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not (len(sys.argv) > 3
                                                    and Path(sys.argv[3]).exists()):
            time.sleep(0.05)
    return record_load(run, table, *args)

statements.record_load = paused
sys.exit(main(["create", sys.argv[1]]))
"""


@pytest.fixture
def env(data_dir, cli_template, tmp_path, monkeypatch) -> dict[str, str]:
    """A DAGSTER_HOME with the project's dagster.yaml, tables created, reference data built: a
    copy of the session's cli_template (templates.py)."""
    home = use_cli_template(cli_template, tmp_path, monkeypatch)
    return {**os.environ, "CAMPAIGN_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}


@pytest.fixture
def instance(env):
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as opened:
        yield opened


@pytest.fixture
def small_request(tmp_path) -> Path:
    path = tmp_path / "small.json"
    path.write_text(request_text(), encoding="utf-8")
    return path


class Process:
    """A child process whose output is read as it comes: stderr lines with when they came."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.popen = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        self.out: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=lambda: self.out.append(self.popen.stdout.read()),
                             daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        for line in self.popen.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def stderr_text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for_line(self, start: str, count: int = 1, timeout: float = 120) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(t, line) for t, line in self.lines if line.startswith(start)]
            if len(found) >= count:
                return found
            assert self.popen.poll() is None, f"exited {self.popen.returncode}:\n" + (
                self.stderr_text()[-3000:])
            time.sleep(0.2)
        raise AssertionError(f"no {count} line(s) {start!r} in {timeout} s:\n"
                             + self.stderr_text()[-3000:])

    def finish(self, timeout: float) -> tuple[str, float]:
        """stdout and the seconds it took; the process is killed if it overruns."""
        started = time.monotonic()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout} s:\n"
                                 + self.stderr_text()[-3000:]) from None
        seconds = time.monotonic() - started
        for reader in self._readers:
            reader.join(timeout=10)
        return "".join(self.out), seconds

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)


def _campaigns(env: dict[str, str], *args: str) -> Process:
    return Process([CAMPAIGNS, *args], env)


def _latest_run(instance, job_name: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)
    return runs[0] if runs else None


def _paused_create(env: dict[str, str], instance, tmp_path: Path, name: str
                   ) -> tuple[Process, str]:
    """A create (PAUSED_CREATE) of a request of its own, and its run's id once its target
    step is inside its load."""
    request, marker = tmp_path / f"{name}.json", tmp_path / f"{name}.loading"
    request.write_text(request_text(), encoding="utf-8")
    process = Process([sys.executable, "-c", PAUSED_CREATE, str(request), str(marker)], env)
    deadline = time.monotonic() + 180
    while not marker.exists():
        if process.popen.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("never reached its target load:\n"
                                 + process.stderr_text()[-3000:])
        time.sleep(0.05)
    run = _latest_run(instance, "campaign_job")
    started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
    assert TARGET_STEP in {record.step_key for record in started}
    return process, run.run_id


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far (proc(5): stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _holders(instance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots]


def _queued(instance, run_id: str) -> list[str]:
    """Steps of the run that are in the pool's queue, waiting or holding."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return [step.step_key for step in info.pending_steps if step.run_id == run_id]


@pytest.mark.long_pole(seconds=10)
def test_a_create_killed_while_holding_the_slot_blocks_nothing(env, instance, tmp_path,
                                                               small_request, capsys):
    """The next create runs in the test process: what it has to find, a dead process's run
    holding the slot, is on disk whoever reads it (a second child would only add its start)."""
    victim, dead_id = _paused_create(env, instance, tmp_path, "victim")
    victim.popen.send_signal(signal.SIGKILL)
    victim.popen.wait(timeout=30)
    victim.kill()
    assert _holders(instance) == [dead_id]  # killed mid-step: the slot stays claimed
    assert instance.get_run_by_id(dead_id).status == dg.DagsterRunStatus.STARTED

    started = time.monotonic()
    code, out, err = campaigns_here(capsys, "create", str(small_request))
    seconds = time.monotonic() - started
    assert code == 0, err
    body = json.loads(out)
    assert body["success"], body["message"]
    assert seconds < 120

    dead = instance.get_run_by_id(dead_id)
    assert dead.status == dg.DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(dead_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "no longer exists" in failure.message and str(victim.popen.pid) in failure.message
    assert dead_id not in _holders(instance) and _queued(instance, dead_id) == []


@pytest.fixture
def holder(env, instance):
    """Another process's run whose step holds the pool's only slot for five minutes."""
    process = Process([sys.executable, "-c", _HOLDER, "300"], env)
    try:
        deadline = time.monotonic() + 120
        while not _holders(instance) and time.monotonic() < deadline:
            assert process.popen.poll() is None, process.stderr_text()[-3000:]
            time.sleep(0.2)
        [run_id] = _holders(instance)
        yield run_id
    finally:
        process.kill()


@pytest.mark.long_pole(seconds=18)
def test_a_waiting_create_says_what_it_waits_for_every_ten_seconds_idles_and_stops_on_ctrl_c(
    env, instance, holder, small_request
):
    """One waiter for both halves of waiting: what it says while it waits, and Ctrl-C ending
    the wait (a holder and a create cost seconds of CPU each; the second report comes after
    ten seconds of wait, well into it, where a Ctrl-C must find the waiter)."""
    waiter = _campaigns(env, "create", str(small_request))
    try:
        [(first_at, first)] = waiter.wait_for_line(WAITING, count=1, timeout=150)
        cpu_at_first = _cpu_seconds(waiter.popen.pid)
        (_, _), (second_at, _) = waiter.wait_for_line(WAITING, count=2, timeout=30)
        waiting_cpu = _cpu_seconds(waiter.popen.pid) - cpu_at_first
        run = _latest_run(instance, "campaign_job")
        waiting_id = run.run_id
        assert _queued(instance, waiting_id), "the create is not queued for the slot"

        waiter.popen.send_signal(signal.SIGINT)
        _, seconds = waiter.finish(timeout=30)
    finally:
        waiter.kill()
    assert first.startswith(f"{WAITING}{holder} (warehouse_holder_job, partition spring, "
                            "started "), first
    assert 8 <= second_at - first_at <= 14
    # Dagster's own wait for a pool slot never sleeps; instance_storage.py makes it.
    assert waiting_cpu < 0.2 * (second_at - first_at), f"{waiting_cpu:.1f} s of CPU while waiting"

    assert seconds < 8, f"took {seconds:.1f} s to stop"
    assert waiter.popen.returncode == 130
    assert f"run {waiting_id}" in waiter.stderr_text() and "interrupted" in waiter.stderr_text()
    status = instance.get_run_by_id(waiting_id).status
    assert status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
    assert _queued(instance, waiting_id) == []
    assert _holders(instance) == [holder]  # the holder keeps its slot
    assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.STARTED


@pytest.mark.long_pole(seconds=8)
def test_ctrl_c_during_a_step_ends_the_run_and_frees_its_slot(env, instance, tmp_path):
    process, run_id = _paused_create(env, instance, tmp_path, "interrupted")
    process.popen.send_signal(signal.SIGINT)
    _, seconds = process.finish(timeout=60)
    assert seconds < 10, f"took {seconds:.1f} s to stop"
    assert process.popen.returncode == 130, process.stderr_text()[-3000:]
    assert f"run {run_id}" in process.stderr_text()
    status = instance.get_run_by_id(run_id).status
    # Ended, never left STARTED: canceled or failed, or succeeded when its last step ended
    # as the signal came (the command then says so, see run_watch._end_process).
    assert status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE,
                      dg.DagsterRunStatus.SUCCESS)
    assert _holders(instance) == [] and _queued(instance, run_id) == []


def test_the_daemon_ends_a_run_whose_worker_was_killed_and_frees_its_slot(
    env, instance, monkeypatch
):
    """What the daemon's MONITORING loop does with the project's dagster.yaml, one iteration at
    the time it would act: a run worker killed mid-step (no campaigns tags: not the command's to
    judge) is failed after max_runtime_seconds and its slot freed a minute later."""
    from dagster._daemon.monitoring import concurrency, run_monitoring

    assert "MONITORING" in instance.get_required_daemon_types()
    settings = instance.run_monitoring_settings
    process = Process([sys.executable, "-c", _HOLDER, "300"], env)
    deadline = time.monotonic() + 120
    while not _holders(instance) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.kill()
    [run_id] = _holders(instance)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

    class Daemon:  # the part of a workspace process context these iterations use
        def __init__(self, opened):
            self.instance = opened

        def create_request_context(self):
            return None

    later = time.time() + settings["max_runtime_seconds"] + 1
    monkeypatch.setattr(run_monitoring, "get_current_timestamp", lambda: later)
    list(run_monitoring.execute_run_monitoring_iteration(Daemon(instance), _quiet_logger()))
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert _holders(instance) == [run_id]  # the slot waits out free_slots_after_run_end_seconds

    then = time.time() + settings["free_slots_after_run_end_seconds"] + 1
    monkeypatch.setattr(concurrency, "get_current_datetime",
                        lambda: datetime.fromtimestamp(then, tz=UTC))
    list(concurrency.execute_concurrency_slots_iteration(Daemon(instance), _quiet_logger()))
    assert _holders(instance) == [] and _queued(instance, run_id) == []


def _quiet_logger():
    import logging

    logger = logging.getLogger("campaigns-test-daemon")
    logger.setLevel(logging.WARNING)
    return logger


def test_a_run_that_ended_but_holds_a_slot_gives_it_back_once_its_process_is_gone(tmp_path):
    """A slot left claimed by an ended run (the process died between marking the run and
    freeing its slots) is freed by the next command; a live process's slot is left alone."""
    from campaign_pipelines import runs

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()

    @dg.op
    def nothing() -> None:
        pass

    job = dg.GraphDefinition(name="ended_job", node_defs=[nothing]).to_job()
    said: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(POOL, 1)
        ended = {}
        for who, pid in (("gone", gone), ("alive", str(os.getpid()))):
            tags = {**runs.process_tags(who), runs.PID_TAG: pid}
            tags.pop(runs.PID_START_TAG, None)
            ended[who] = job.execute_in_process(instance=instance, tags=tags).run_id
        storage.claim_concurrency_slot(POOL, ended["gone"], "nothing")
        assert _holders(instance) == [ended["gone"]]
        assert runs.reap_dead_runs(instance, said.append) == [ended["gone"]]
        assert _holders(instance) == [] and ended["gone"] in said[0]

        storage.claim_concurrency_slot(POOL, ended["alive"], "nothing")
        assert runs.reap_dead_runs(instance, said.append) == []
        assert _holders(instance) == [ended["alive"]]
