"""Every run, wherever it starts, executes its steps in its worker process (defs/executor.py)."""

from campaign_pipelines.defs.settings import read_settings
from campaign_pipelines.service import loaded_definitions

# The job Dagster builds for the asset catalog's Materialize button.
MATERIALIZE_BUTTON_JOB = "__ASSET_JOB"


def test_every_job_and_the_materialize_button_run_in_process():
    defs = loaded_definitions(read_settings())
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {MATERIALIZE_BUTTON_JOB, "campaign_job", "audience_job"} <= jobs
    for name in jobs:
        assert defs.resolve_job_def(name).executor_def.name == "in_process", name
