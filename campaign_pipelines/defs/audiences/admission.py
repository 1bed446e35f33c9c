"""What admission reads through Dagster (the stored vocabulary) and what a campaign run carries
from admission: the version it builds and the file it takes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.admission import Admitted
from campaign_pipelines.core.profile import Vocabulary
from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.io_manager import ParquetIOManager

REQUEST_OP = "campaign_request"
VOCABULARY = dg.AssetKey(["reference", "vocabulary"])


def stored_vocabulary(io_manager: ParquetIOManager) -> Vocabulary | None:
    """The device, push stream and product names campaigns may filter by, as the
    reference/vocabulary asset last stored them: admission refuses a request naming any other
    (``admit_file``) before its campaign partition exists.

    Read from the asset's stored output through the IO manager, the very file a campaign run
    reads, never from the warehouse: a sensor must not open it (DESIGN §3). None when the
    vocabulary has never been built (a fresh warehouse before its first reference_refresh_job):
    the request is then admitted without this check and the run's own check in
    filtered_audience refuses an unknown name. That check stays in any case, as the second
    line: the vocabulary may change between admission and run.
    """
    frame = io_manager.stored_frame(VOCABULARY)
    return None if frame is None else Vocabulary(frame)


class CampaignRequestConfig(dg.Config):
    """Which admitted version of the campaign this run builds, and the landing file it takes.

    Runs started by the sensor or `campaigns create` fill these in. Left empty (a run started
    from the UI's Materialize button), the run builds the version the campaign key holds now.
    """

    version: str = ""
    landing_file: str = ""
    landing_sha256: str = ""


def campaign_run_config(
    admitted: Admitted, landing_file: Path | None = None, fingerprint: str = ""
) -> dict:
    config = {"version": admitted.version}
    if landing_file is not None:
        config |= {"landing_file": str(landing_file), "landing_sha256": fingerprint}
    return {"ops": {REQUEST_OP: {"config": config}}}


def campaign_run_tags(admitted: Admitted, file_name: str, arrival_id: str = "") -> dict[str, str]:
    tags = {
        "campaign/request_file": file_name,
        "campaign/request_version": admitted.version,
        "campaign/admitted_as": admitted.outcome.value,
    }
    if arrival_id:
        tags[ARRIVAL_TAG] = arrival_id
    return tags
