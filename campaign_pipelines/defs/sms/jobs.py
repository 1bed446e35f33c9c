import dagster as dg

from campaign_pipelines.defs.sms.assets import CAMPAIGNS_KEY, EVENTS_KEY
from campaign_pipelines.defs.sms.metrics import METRICS_KEY
from campaign_pipelines.defs.sms.runner import SENDS_KEY

sms_campaign_admission_job = dg.define_asset_job(
    name="sms_campaign_admission_job",
    selection=dg.AssetSelection.assets(CAMPAIGNS_KEY),
    description="Stores a tick's admitted landing/sms campaign files in "
    "campaign_ops.sms_campaigns (Scheduled), each file archived, or rejected with its "
    ".error.json when the store refuses it.",
)

sms_events_job = dg.define_asset_job(
    name="sms_events_job",
    selection=dg.AssetSelection.assets(EVENTS_KEY, METRICS_KEY),
    description="Applies a tick's landing/sms_events files (delivery receipts, replies, STOP "
    "and START) to the ledger and the suppressions, then reports the campaigns' metrics.",
)

sms_runner_job = dg.define_asset_job(
    name="sms_runner_job",
    selection=dg.AssetSelection.assets(SENDS_KEY, METRICS_KEY),
    description="Starts the due SMS campaigns (prospects queued once), sends every Active "
    "campaign's queued messages within the sending hours, completes what is done, and "
    "reports the campaigns' metrics.",
)
