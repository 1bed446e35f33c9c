import dagster as dg

reference_refresh_job = dg.define_asset_job(
    name="reference_refresh_job",
    selection=dg.AssetSelection.groups("reference"),
    description="Re-extracts every reference dataset from the warehouse.",
)
