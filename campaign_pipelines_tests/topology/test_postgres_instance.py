"""The production instance (deploy/dagster.yaml) on a real PostgreSQL: a campaign request
arrives, a real `dagster-daemon run` admits it through campaign_requests_sensor, queues the run,
the queued run coordinator starts it under the project's concurrency rules, and the run
builds and deploys the campaign; then the run, its queueing and its materializations are read
back from PostgreSQL, through Dagster and in Dagster's own tables with plain SQL.

The server is Debian's postgresql package (``/usr/lib/postgresql/<version>/bin``; `.ci/run`
installs it when missing), started here (as the ``postgres`` user when the tests run as root)
in a temporary directory on a free loopback port and stopped at the end. It runs with
``fsync=off``: a throwaway cluster, and nothing under test depends on surviving a power cut.
The instance is deploy/dagster.yaml minus its Kubernetes run launcher (no cluster here): each
run is a local process, as Dagster's default launcher makes it.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import psycopg2
import pytest
import yaml
from dagster._core.events import DagsterEventType

from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.ports import free_port
from campaign_pipelines_tests.schedule_state import stop_sms_runner
from campaign_pipelines_tests.templates import DATA, ROOT, copy_into

DEPLOY_INSTANCE = ROOT / "deploy" / "dagster.yaml"
# What the test keeps of deploy/dagster.yaml: all but the run launcher (and so the default one).
KEPT = ("storage", "run_coordinator", "concurrency", "run_monitoring", "run_retries",
        "compute_logs", "python_logs", "telemetry")
POSTGRES_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                       key=lambda p: int(Path(p).parent.parent.name))
START_S = 30
RUN_S = 240  # the daemon's code server and the run worker each load the code location

pytestmark = [
    pytest.mark.long_pole(seconds=35),
    pytest.mark.skipif(not POSTGRES_BINS, reason="no /usr/lib/postgresql/*/bin/postgres: "
                       "Debian's postgresql package is not installed (.ci/run installs it "
                       "with apt-get)"),
]


def _as_postgres(*command: str) -> list[str]:
    """``command`` run as the ``postgres`` user when this is root (the server refuses to run as
    root), else as this user. setpriv execs (no child in between), so the process started is
    the server itself."""
    if os.geteuid() != 0:
        return list(command)
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *command]


def _scram_secret(password: str, iterations: int) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for ``password`` (RFC 5802/7677), which
    ``CREATE ROLE ... PASSWORD`` takes as it is."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = [base64.b64encode(part).decode() for part in (salt, stored, server)]
    return f"SCRAM-SHA-256${iterations}:{b64[0]}${b64[1]}:{b64[2]}"


class Server:
    """A PostgreSQL cluster of its own: initdb, start on 127.0.0.1:``port``, stop, delete."""

    def __init__(self, bindir: Path):
        self.bindir, self.port = bindir, free_port()
        self.root = Path(tempfile.mkdtemp(prefix="campaign-pg-"))  # mode 0700
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.password = secrets.token_urlsafe(18)  # this run's only; never written to a file
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        subprocess.run(_as_postgres(str(self.bindir / "initdb"), "-D", str(self.data),
                                    "-U", "postgres", "--auth-local=trust",
                                    "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"),
                       check=True, capture_output=True, timeout=120)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(_as_postgres(
                str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off"), stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        # The socket is in the cluster's own 0700 directory: only its owner (and root) reach the
        # trusted superuser.
        # The instance's own login and database, as a DBA would give them: not a superuser,
        # a password over TCP (scram-sha-256). Its SCRAM secret is given already hashed, with 16
        # PBKDF2 iterations instead of PostgreSQL's 4096: the same exchange, but dagster-postgres
        # opens a connection for nearly every storage call (NullPool), ~1,400 in this test, and
        # 4096 iterations cost ~1 ms on each side of each one.
        verifier = _scram_secret(self.password, iterations=16)
        self.psql("postgres", f"CREATE ROLE dagster LOGIN PASSWORD '{verifier}'")
        self.psql("postgres", "CREATE DATABASE dagster OWNER dagster")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_S
        while subprocess.run(_as_postgres(str(self.bindir / "pg_isready"), "-h", str(self.root),
                                          "-p", str(self.port)), capture_output=True).returncode:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "postgres did not start: " + self.log.read_text()
            time.sleep(0.1)

    def psql(self, database: str, sql: str) -> str:
        """As the superuser, over the server's own socket."""
        done = subprocess.run(_as_postgres(
            str(self.bindir / "psql"), "-h", str(self.root), "-p", str(self.port), "-d",
            database, "-v", "ON_ERROR_STOP=1", "-Atc", sql), capture_output=True, text=True,
            timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def environment(self) -> dict[str, str]:
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port),
                "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USERNAME": "dagster",
                "DAGSTER_PG_PASSWORD": self.password}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # postgres' "fast" shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Server]:
    server = Server(Path(POSTGRES_BINS[-1]).parent)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _production_home(home: Path) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is deploy/dagster.yaml without the run launcher."""
    deployed = yaml.safe_load(DEPLOY_INSTANCE.read_text(encoding="utf-8"))
    assert deployed["run_launcher"]["class"] == "K8sRunLauncher"
    home.mkdir()
    kept = {key: deployed[key] for key in KEPT}
    (home / "dagster.yaml").write_text(yaml.safe_dump(kept), encoding="utf-8")
    return home


class Daemon:
    """`dagster-daemon run` over the code location, in its own process group (its code server,
    the run worker that server spawns and their helpers join that group)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        daemon = str(Path(sys.executable).with_name("dagster-daemon"))
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [daemon, "run", "-m", "campaign_pipelines.definitions"], cwd=ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.root = psutil.Process(self.process.pid)  # not yet reaped, so surely the daemon
        self.started: dict[int, psutil.Process] = {self.root.pid: self.root}  # all seen, by pid

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def _look(self) -> None:
        """Adds to ``started`` the daemon's descendants and every member of its process group:
        a process whose parent has died is re-parented to init (no longer a descendant) but stays
        in the group. The group's id is the daemon's pid, which the kernel does not hand out
        again while the group has a member."""
        try:
            found = self.root.children(recursive=True)
        except psutil.NoSuchProcess:  # psutil also refuses a pid handed to another process
            found = []
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) == self.process.pid != process.pid:
                    found.append(process)
            except (ProcessLookupError, psutil.Error):
                pass
        for process in found:
            self.started.setdefault(process.pid, process)

    def left(self) -> list[str]:
        """What the daemon started that is still alive (not a zombie), as ``pid command``."""
        self._look()
        alive = []
        for process in self.started.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{process.pid} {' '.join(process.cmdline())[:200]}")
            except psutil.NoSuchProcess:
                pass
        return alive

    def _wait_gone(self, timeout: float) -> None:
        """Until nothing the daemon started is alive; a zombie counts as gone (whoever it was
        re-parented to reaps it, this process cannot)."""
        deadline = time.monotonic() + timeout
        while self.left() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
        for process in self.started.values():  # any that left the group
            with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
                if os.getpgid(process.pid) != self.process.pid:
                    process.send_signal(signum)

    def stop(self) -> None:
        """SIGTERM to the group and to every process of the daemon's seen (the daemon, its code
        server, any run worker), then SIGKILL to what is still alive once the daemon has had
        30 s to end and the rest 5 s more. (A code server usually ends within a second of the
        SIGTERM; one was seen hung on a lock for 25 minutes after it, in the daemon's group.)"""
        self._look()
        self._signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self._wait_gone(timeout=5)  # left() also finds one started during the shutdown
        if self.process.poll() is None or self.left():
            self._signal(signal.SIGKILL)
            self.process.wait()
            self._wait_gone(timeout=10)


def _finished_run(instance: dg.DagsterInstance, daemon: Daemon) -> dg.DagsterRun:
    deadline = time.monotonic() + RUN_S
    while True:
        runs = instance.get_runs(dg.RunsFilter(job_name="campaign_job"))
        if runs and runs[0].is_finished:
            return runs[0]
        assert daemon.process.poll() is None, "the daemon ended:\n" + daemon.tail()
        assert time.monotonic() < deadline, f"no finished run after {RUN_S} s: {runs}\n" + \
            daemon.tail()
        time.sleep(0.5)


def test_a_campaign_runs_through_the_sensor_and_the_queue_on_postgres(
    postgres, location_template, tmp_path
):
    data = tmp_path / DATA
    copy_into(location_template / DATA, data)  # the known bank, tables made, reference built
    landing = data / "landing" / "campaigns"
    landing.mkdir(parents=True)
    (landing / "pg_promo.json").write_text(request_text(), encoding="utf-8")
    settled = time.time() - 60  # older than the landing's quiet period
    os.utime(landing / "pg_promo.json", (settled, settled))
    home = _production_home(tmp_path / "dagster_home")
    env = {**os.environ, **postgres.environment(), "DAGSTER_HOME": str(home),
           "CAMPAIGN_DATA_DIR": str(data)}
    env.pop("CAMPAIGN_WAREHOUSE", None)

    with pytest.MonkeyPatch.context() as patch:
        for name, value in postgres.environment().items():
            patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            stop_sms_runner(instance, "campaign_pipelines.definitions")  # the daemon's -m
            daemon = Daemon(env, tmp_path / "daemon.log")
            try:
                run = _finished_run(instance, daemon)
            finally:
                daemon.stop()
            assert not daemon.left(), daemon.left()  # no code server or run worker outlives it
            assert run.status == dg.DagsterRunStatus.SUCCESS, daemon.tail()
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            # The project's rules, from deploy/dagster.yaml, held in PostgreSQL: the deployment
            # steps took the pool "warehouse" at its default limit of one slot.
            limits = instance.get_concurrency_config()
            assert limits.run_queue_config.max_concurrent_runs == 4
            pool = instance.event_log_storage.get_concurrency_info("warehouse")
            assert pool.slot_count == 1 and pool.active_slot_count == 0
            assert run.tags["dagster/sensor_name"] == "campaign_requests_sensor"
            assert run.tags["dagster/partition"] == "pg_promo" and ARRIVAL_TAG in run.tags
            logs = instance.all_logs(run.run_id)
            kinds = [entry.dagster_event_type for entry in logs if entry.is_dagster_event]
            assert kinds.index(DagsterEventType.RUN_ENQUEUED) < kinds.index(
                DagsterEventType.RUN_STARTING) < kinds.index(DagsterEventType.RUN_SUCCESS)
            built = instance.get_latest_materialization_event(
                dg.AssetKey(["dssb_ocds", "mb22_local_target"]))
            assert built is not None and built.run_id == run.run_id
            assert built.asset_materialization.partition == "pg_promo"

    # The same records in Dagster's tables, as any SQL client of the instance database sees them.
    with psycopg2.connect(host="127.0.0.1", port=postgres.port, dbname="dagster",
                          user="dagster", password=postgres.password) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_id = %s", [run.run_id])
            assert cursor.fetchall() == [("SUCCESS",)]
            cursor.execute("SELECT DISTINCT asset_key, partition FROM event_logs "
                           "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
                           [run.run_id])
            materialized = {(key, partition) for key, partition in cursor.fetchall()}
    assert ('["dssb_ocds", "mb22_local_target"]', "pg_promo") in materialized
    assert ('["campaign_request"]', "pg_promo") in materialized, materialized
    assert (landing / "archive" / "pg_promo.json").exists()  # the run took the file
