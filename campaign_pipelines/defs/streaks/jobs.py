import dagster as dg

from campaign_pipelines.defs.streaks.assets import (
    ASSIGNMENTS,
    BATCH_ELIGIBILITY,
    MANUAL_ASSIGNMENTS,
    USER_STATE,
)

streaks_daily_job = dg.define_asset_job(
    name="streaks_daily_job",
    selection=dg.AssetSelection.assets(BATCH_ELIGIBILITY, ASSIGNMENTS, USER_STATE),
    description="Batch eligibility, completions, chain hops and NA-protected batch assignment.",
)

streak_manual_assignment_job = dg.define_asset_job(
    name="streak_manual_assignment_job",
    selection=dg.AssetSelection.assets(MANUAL_ASSIGNMENTS, USER_STATE),
    description="Applies one user_id,streak CSV of manual moves (experiments).",
)
