"""New request files in landing/campaigns become campaign partitions and runs, under the
admission contract (adapters/admission.py, defs/arrivals.py), which also says what a tick
reports: a skip reason naming each refused file and its error file, and a JSON cursor."""

from functools import cache
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.admission import REQUEST_SUFFIXES, admit_file
from campaign_pipelines.defs.arrivals import Admission, answer_arrivals
from campaign_pipelines.defs.audiences.admission import (
    campaign_run_config,
    campaign_run_tags,
    stored_vocabulary,
)
from campaign_pipelines.defs.deployment.jobs import campaign_job
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource


@dg.sensor(
    name="campaign_requests_sensor",
    job=campaign_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Admits each new JSON/YAML request in landing/campaigns: a valid one becomes a "
    "campaign partition and a campaign_job run that builds exactly the admitted version and "
    "takes the file into archive/; a bad one, or one that would replace a live campaign "
    "without `replaces:`, moves to rejected/ with an .error.json that the tick's skip reason "
    "names. The cursor only reports the last tick and the last requested and rejected files; "
    "clearing it changes nothing.",
)
def campaign_requests_sensor(
    context: dg.SensorEvaluationContext,
    campaign_data: CampaignDataResource,
    warehouse: WarehouseResource,
    io_manager: dg.ResourceParam[ParquetIOManager],
) -> dg.SensorResult:
    store = campaign_data.requests()
    blacklists = warehouse.reference_config().blacklist_sources
    # A stored file, so the warehouse stays closed; read once a tick, and only if a file arrived.
    vocabulary = cache(lambda: stored_vocabulary(io_manager))
    uploads = campaign_data.uploads_dir()

    def admit(path: Path, fingerprint: str, arrival_id: str) -> Admission:
        admitted = admit_file(path, store=store, blacklist_sources=blacklists,
                              vocabulary=vocabulary(), uploads_dir=uploads)
        run = dg.RunRequest(
            run_key=f"{admitted.key}:{arrival_id}",
            partition_key=admitted.key,
            run_config=campaign_run_config(admitted, path, fingerprint),
            tags=campaign_run_tags(admitted, path.name, arrival_id),
        )
        return Admission(run_request=run, partition_key=admitted.key)

    answers = answer_arrivals(
        context, campaign_data.landing(), "campaigns", REQUEST_SUFFIXES, admit,
        quiet_seconds=campaign_data.landing_quiet_s,
    )
    return answers.sensor_result(campaigns_partitions)
