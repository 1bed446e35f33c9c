"""The metrics domain's pure core: what a campaign changed against its control group
(outcomes.py), the daily rollup per day × campaign × channel with its invariants (rollup.py) and
the pictures of an outcome (charts.py). No Dagster, no I/O: frames and values in, frames,
dataclasses and PNG bytes out. scipy and matplotlib are imported inside the functions that use
them, so importing core stays light."""
