import dagster as dg

audience_job = dg.define_asset_job(
    name="audience_job",
    selection=dg.AssetSelection.groups("audiences"),
    description="Builds one campaign's audience: request, received rows, filters, split.",
)
