"""The executor every job of this code location runs with, wherever its run starts.

In-process: a run's steps execute one after another in the run worker itself. Dagster's
default, the multiprocess executor, starts a Python process per step, and each one loads the
code location again: about 2 s of CPU per step, 17 steps for a campaign, where the steps
themselves take under a second each for a small campaign. The steps gain nothing from running
side by side either: the heavy ones are polars and DuckDB, which use every core of the host
already, and the warehouse writers take one slot of the ``warehouse`` pool at a time. Outputs
go through the Parquet IO manager, so running in one process holds no step's data for longer.

So a run launched from the UI's Materialize button (Dagster's implicit asset job), by a sensor,
a schedule or by ``campaigns`` takes the same path and about the same time. Runs stay isolated
from each other: every run still has its own worker process.
"""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor)
