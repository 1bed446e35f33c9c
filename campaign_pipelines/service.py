"""Operations the `campaigns` command performs through Dagster.

Runs go through the Dagster instance (``DAGSTER_HOME``), so every campaign built from the
command line appears in the UI's run history like the ones the sensor starts.
"""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from campaign_pipelines import runs
from campaign_pipelines.adapters.admission import (
    REQUEST_SUFFIXES,
    Admitted,
    admit_file,
    campaign_key,
    read_request,
)
from campaign_pipelines.adapters.landing_arrivals import Arrival, is_temp_name
from campaign_pipelines.adapters.storage import same_place, storage_for
from campaign_pipelines.adapters.warehouse.protocol import Deployment
from campaign_pipelines.core.requests import RequestError
from campaign_pipelines.defs.arrivals import ARRIVAL_TAG, arrival_key
from campaign_pipelines.defs.audiences.admission import (
    campaign_run_config,
    campaign_run_tags,
    stored_vocabulary,
)
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    JourneyConfigResource,
    WarehouseResource,
)
from campaign_pipelines.defs.settings import SettingError, Settings, read_settings
from campaign_pipelines.responses import failure_messages
from campaign_pipelines.run_watch import RunWatch

INSTANCE_SETTINGS = Path(__file__).parent / "config" / "instance" / "dagster.yaml"


@dataclass(frozen=True)
class Location:
    """The loaded code location with its resources, and the instance runs are recorded in."""

    defs: dg.Definitions
    instance: dg.DagsterInstance

    @functools.cached_property
    def campaign_data(self) -> CampaignDataResource:
        return self.resource("campaign_data")

    @functools.cached_property
    def warehouse(self) -> WarehouseResource:
        return self.resource("warehouse")

    @functools.cached_property
    def journey_config(self) -> JourneyConfigResource:
        return self.resource("journey_config")

    def deployment(self) -> Deployment:
        """The warehouse's deployment and registry operations, for commands that need no run."""
        return self.warehouse.deployment()

    def resource(self, key: str) -> Any:
        """The resource as a run receives it: config processed by Dagster, so ``dg.EnvVar``
        fields hold the variable's value, read now. SettingMissing names an unset variable."""
        try:
            with dg.build_resources(
                {key: self.defs.resources[key]}, instance=self.instance
            ) as built:
                return getattr(built, key)
        except dg.DagsterInvalidConfigError as error:
            raise SettingMissing(key, error) from None


class SettingMissing(RuntimeError):
    """A resource's setting could not be resolved, typically an environment variable not set."""

    def __init__(self, key: str, error: dg.DagsterInvalidConfigError):
        texts = [e.message for e in error.errors] or [str(error)]
        unset = [m for t in texts for m in _UNSET_VARIABLE.findall(t)]
        if unset:
            names = list(dict.fromkeys(unset))
            them = "it" if len(names) == 1 else "them"
            problems = "; ".join(f"{name} is not set" for name in names)
            message = f"{problems}: the {key} resource reads {them} through dg.EnvVar; set {them}"
        else:  # Dagster appends its own stack trace to each message: keep the sentence
            message = f"the {key} resource's settings: " + "; ".join(
                t.split("\n\nStack Trace")[0].strip() for t in texts
            )
        super().__init__(message)


_UNSET_VARIABLE = re.compile(r'environment variable "([^"]+)" which is not set')


@dataclass(frozen=True)
class Registered:
    """An admitted request and what its run must carry (adapters/admission.py)."""

    admitted: Admitted
    run_config: dict
    tags: dict[str, str]


def register(
    location: Location, path: Path, *, dry_run: bool = False, replace: bool = False
) -> Registered:
    """Admits the request file and adds its campaign partition; RequestError if it cannot run.

    The same admission as the sensor, filter names checked against the stored vocabulary
    (``stored_vocabulary``; prepare_campaign_run builds it first if missing). For a file inside
    landing/campaigns, a refusal moves it to rejected/ and the run takes it into archive/. A dry
    run claims nothing and leaves the file pending: the sensor (or a later create) still
    deploys it.
    """
    data = location.campaign_data
    landing = data.landing()
    in_landing = not dry_run and same_place(path.resolve().parent, landing.folder("campaigns"))
    identity = _identify(path) if in_landing else None
    try:
        if identity is not None:
            _refuse_if_in_flight(location, path, identity[1])
        admitted = admit_file(
            path,
            store=data.requests(),
            blacklist_sources=location.warehouse.reference_config().blacklist_sources,
            vocabulary=stored_vocabulary(location.resource("io_manager")),
            uploads_dir=data.uploads_dir(),
            replace=replace,
            dry_run=dry_run,
        )
    except RequestError as error:
        if in_landing:
            landing.reject(path, {"problems": error.problems})
        raise
    location.instance.add_dynamic_partitions(campaigns_partitions.name, [admitted.key])
    fingerprint, arrival_id = identity or ("", "")
    return Registered(
        admitted=admitted,
        run_config=campaign_run_config(admitted, path if identity else None, fingerprint),
        tags=campaign_run_tags(admitted, path.name, arrival_id),
    )


def prepare_campaign_run(location: Location, path: Path, say: runs.Say) -> None:
    """What may take long comes before admission, so that the sensor never sees an admitted
    landing file without its run for more than a moment: the request is read first (a bad one
    costs nothing), then missing reference data is built, runs of dead processes reaped and a
    going run of the same campaign waited for. RequestError for a request that cannot run."""
    read_request(path)
    key = campaign_key(path.name)
    ensure_reference_data(location, say)
    runs.reap_dead_runs(location.instance, say)
    runs.wait_for_partition(location.instance, key, say)


def _identify(path: Path) -> tuple[str, str] | None:
    """(sha256, arrival id) of a landing file, as the sensor names the same arrival (see
    defs/arrivals.py); None when it is gone."""
    entry = storage_for(path).lstat(path)  # the listing's time, on a store too
    if entry is None:
        return None
    identity = Arrival(path=path, name=path.name, mtime_ns=entry.mtime_ns,
                       status="ready").identify()
    return None if identity is None else (identity[0], arrival_key(path.name, identity[1]))


def _refuse_if_in_flight(location: Location, path: Path, arrival_id: str) -> None:
    started = location.instance.get_runs(filters=dg.RunsFilter(tags={ARRIVAL_TAG: arrival_id}))
    going = [run for run in started if not run.is_finished]
    if going:
        raise InFlight(path.name, going[0].run_id)
    # On an object store a sensor elsewhere may be requesting its run right now (landing.py).
    if not location.campaign_data.landing().claim("campaigns", arrival_id, "campaigns create"):
        raise InFlight(path.name, "")


class InFlight(RuntimeError):
    """The sensor already started a run for this very file (or, on an object store, is
    requesting it: ``run_id`` empty)."""

    def __init__(self, name: str, run_id: str):
        by = f"run {run_id}" if run_id else "a run the sensor is requesting now"
        super().__init__(f"{name} is already being built by {by} (started by the "
                         "campaign_requests_sensor): follow it in the Dagster UI")
        self.run_id = run_id


def run_job(
    location: Location,
    job_name: str,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
    *,
    say: runs.Say = runs.say_on_stderr,
    on_run: Callable[[str], None] | None = None,
) -> dg.JobExecutionResult:
    """Runs a job of the code location in this process, recorded in the instance.

    ``execute_job`` on a reconstructable job, not ``execute_in_process``: the latter keeps every
    step's output in memory for the result object, several GB for a 10M-row campaign. First the
    runs of dead processes give back their pool slots; while it runs, a wait for a slot is
    reported through ``say`` and Ctrl-C raises ``run_watch.RunInterrupted`` (see run_watch.py).
    ``on_run`` receives the run id once the run exists.
    """
    run_tags = dict(tags or {})
    if partition_key is not None:
        run_tags["dagster/partition"] = partition_key
    invocation = uuid.uuid4().hex
    run_tags.update(runs.process_tags(invocation))
    runs.reap_dead_runs(location.instance, say)
    if partition_key is not None:
        runs.wait_for_partition(location.instance, partition_key, say)
    with RunWatch(location.instance, invocation, say, on_run) as watch:
        try:
            with dg.execute_job(
                reconstructable_job(job_name),
                instance=location.instance,
                run_config={**_QUIET, **(run_config or {})},
                tags=run_tags,
            ) as result:
                if not watch.interrupted:
                    return result
        except KeyboardInterrupt:
            pass
        raise watch.stopped()


# What campaign runs read from the reference group (audiences/assets.py, checks.py).
REFERENCE_INPUTS = tuple(
    dg.AssetKey(["reference", name]) for name in ("blacklist", "customer_profile", "vocabulary")
)


def ensure_reference_data(location: Location, say: runs.Say) -> None:
    """Runs reference_refresh_job first when a reference dataset a campaign reads has never
    been materialized in this instance or its stored file is gone, as on a fresh warehouse.
    A failed refresh is said; the campaign's own run then fails naming what is missing."""
    if not missing_reference_data(location):
        return
    location.warehouse  # noqa: B018 - a missing warehouse setting is said before any run
    announce = "reference datasets missing: building them first (run {})"
    result = run_job(
        location, "reference_refresh_job", say=say, on_run=lambda i: say(announce.format(i))
    )
    if not result.success:
        say(f"reference refresh run {result.run_id} failed: "
            + "; ".join(failure_messages(result)))


def missing_reference_data(location: Location) -> list[str]:
    io_manager = location.resource("io_manager")
    missing = []
    for key in REFERENCE_INPUTS:  # recorded by the instance and stored where runs read it
        if (location.instance.get_latest_materialization_event(key) is None
                or not io_manager.path_of(key).exists()):
            missing.append(key.to_user_string())
    return missing


def loaded_job(name: str) -> dg.JobDefinition:
    """The named job of the code location, as the run worker rebuilds it by name."""
    return loaded_definitions(read_settings()).resolve_job_def(name)


def loaded_definitions(settings: Settings) -> dg.Definitions:
    """The code location's definitions, loaded once per process for each settings value: a
    command opens the location and rebuilds its job from it without loading either again.
    (``DAGSTER_HOME``, which opening the location may set, does not change them.)"""
    return _definitions(settings.model_copy(update={"dagster_home": None}))


@functools.cache
def _definitions(settings: Settings) -> dg.Definitions:
    from campaign_pipelines.definitions import defs

    try:
        return defs()
    except Exception as error:  # Dagster wraps what defs/resources.py raised: name the setting
        setting = _cause_of_kind(error, SettingError)
        if setting is None:
            raise
        raise setting from None


def reconstructable_job(name: str):  # ReconstructableJob, which dagster does not export
    """The named job as ``execute_job`` needs it: rebuilt from ``loaded_job(name)``."""
    return dg.build_reconstructable_job(__name__, loaded_job.__name__, (name,))


# Step-by-step engine events belong in the UI; the terminal shows warnings and the outcome.
# (Every job runs in process, as from the UI: defs/executor.py.)
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def pending_requests(location: Location, say: runs.Say = runs.say_on_stderr) -> list:
    """Every arrival in landing/campaigns with its status (ready, waiting or refused). A file
    still inside its quiet period (maybe being written in place) is waited for once, at most
    that period, instead of being left for the next command."""
    data = location.campaign_data
    landing, quiet = data.landing(), data.landing_quiet_s
    listed = landing.arrivals("campaigns", REQUEST_SUFFIXES, quiet_seconds=quiet)
    if wait_for_fresh(listed, quiet, say):
        listed = landing.arrivals("campaigns", REQUEST_SUFFIXES, quiet_seconds=quiet)
    return listed


def wait_for_fresh(listed: list[Arrival], quiet: float, say: runs.Say) -> bool:
    """Waits once, at most ``quiet`` seconds, for the listed files modified in the last
    ``quiet`` seconds (maybe still being written in place), not for writers' temp files, so a
    command answers them instead of leaving them for the next one; True if it waited."""
    fresh = [a for a in listed if a.status == "waiting" and not is_temp_name(a.name)]
    if fresh:
        wait = max(a.mtime_ns for a in fresh) / 1e9 + quiet - time.time()
        say(f"waiting {max(wait, 0):.1f} s for {', '.join(a.name for a in fresh)}: modified in "
            f"the last {quiet:g} s, maybe still being written")
        time.sleep(min(max(wait, 0), quiet) + 0.05)
    return bool(fresh)


def open_location(settings: Settings | None = None) -> Location:
    """The code location and the instance of ``DAGSTER_HOME`` (default
    ``$CAMPAIGN_DATA_DIR/dagster_home``, created on first use with the project's instance
    settings: pools, run monitoring, run retries): what every command runs in."""
    settings = settings or read_settings()
    if settings.dagster_home is None:
        home = settings.data_dir / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        instance_settings = home / "dagster.yaml"
        if not instance_settings.exists():
            instance_settings.write_bytes(INSTANCE_SETTINGS.read_bytes())
        os.environ["DAGSTER_HOME"] = str(home)  # for Dagster, and the processes it starts
    return Location(defs=loaded_definitions(settings), instance=dg.DagsterInstance.get())


def _cause_of_kind(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = error
    while seen is not None and not isinstance(seen, kind):
        seen = seen.__cause__ or seen.__context__
    return seen
