import dagster as dg

from campaign_pipelines.defs.deployment.assets import campaign_codes

audience_job = dg.define_asset_job(
    name="audience_job",
    # campaign_codes ends the audiences group but writes the registry: a dry run writes nothing.
    selection=dg.AssetSelection.groups("audiences") - dg.AssetSelection.assets(campaign_codes),
    description="Builds one campaign's audience: request, received rows, filters, split. "
    "Allocates no campaign code and writes nothing to the warehouse.",
)
