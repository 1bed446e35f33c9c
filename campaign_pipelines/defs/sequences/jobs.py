import dagster as dg

from campaign_pipelines.defs.sequences.assets import (
    EMAIL_SEQUENCES_KEY,
    ENROLLMENTS_KEY,
    SIGNUPS_KEY,
    SUPPRESSIONS_KEY,
)

sequence_admission_job = dg.define_asset_job(
    name="sequence_admission_job",
    selection=dg.AssetSelection.assets(SIGNUPS_KEY, ENROLLMENTS_KEY, SUPPRESSIONS_KEY),
    description="Admits a tick's landing/signups and landing/unsubscribes files: signups "
    "recorded, new addresses enrolled with seven planned sends, unsubscribes suppressed.",
)

send_due_emails_job = dg.define_asset_job(
    name="send_due_emails_job",
    selection=dg.AssetSelection.assets(EMAIL_SEQUENCES_KEY),
    description="Sends every due e-mail of the ledger once (idempotency key per e-mail) and "
    "posts pending CRITICAL alerts; fills campaign_ops.email_sequences.",
)
