import dagster as dg

campaign_job = dg.define_asset_job(
    name="campaign_job",
    selection=dg.AssetSelection.groups("audiences", "deployment"),
    description="Builds one campaign's audience and deploys it to the six warehouse tables.",
)
