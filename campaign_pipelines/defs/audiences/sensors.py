"""New request files in landing/campaigns become campaign partitions and runs."""

import dagster as dg

from campaign_pipelines.adapters.campaign_intake import REQUEST_SUFFIXES, admit, campaign_key
from campaign_pipelines.adapters.landing import fingerprint_if_present
from campaign_pipelines.core.requests import RequestError
from campaign_pipelines.defs.deployment.jobs import campaign_job
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource


@dg.sensor(
    name="campaign_requests_sensor",
    job=campaign_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Admits each new JSON/YAML request in landing/campaigns: a valid one becomes a "
    "campaign partition and a campaign_job run (audience, then deployment as its "
    "deploy_options say), a bad one moves to rejected/ with an .error.json.",
)
def campaign_requests_sensor(
    context: dg.SensorEvaluationContext,
    campaign_data: CampaignDataResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    landing = campaign_data.landing()
    blacklists = warehouse.reference_config().blacklist_sources
    keys, runs, rejected = [], [], 0
    for path in landing.pending("campaigns", REQUEST_SUFFIXES):
        fingerprint = fingerprint_if_present(path)
        if fingerprint is None:
            continue  # `campaigns run-pending` took it since the listing
        try:
            key = campaign_key(path.name)
            request = admit(
                path, blacklist_sources=blacklists, uploads_dir=campaign_data.uploads_dir()
            )
        except RequestError as error:
            landing.reject(path, {"problems": error.problems})
            context.log.warning(f"rejected {path.name}: {error}")
            rejected += 1
            continue
        campaign_data.requests().save(key, request)
        archived = landing.archive(path)
        keys.append(key)
        runs.append(
            dg.RunRequest(
                # One run per arrival: the archived name is unique (a taken name gets a
                # timestamp), so sending the same file again rebuilds the campaign.
                run_key=f"{key}:{archived.name}",
                partition_key=key,
                tags={
                    "campaign/request_file": path.name,
                    "campaign/request_sha256": fingerprint[:16],
                },
            )
        )
    if not keys and not rejected:
        return dg.SensorResult(skip_reason="no new request in landing/campaigns")
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[campaigns_partitions.build_add_request(keys)] if keys else [],
        cursor=f"admitted={len(keys)} rejected={rejected}",
    )
