import dagster as dg

from campaign_pipelines.defs.partitions import campaigns_partitions

audience_job = dg.define_asset_job(
    name="audience_job",
    selection=dg.AssetSelection.groups("audiences"),
    partitions_def=campaigns_partitions,
    description="Builds one campaign's audience: request, received rows, filters, split.",
)
