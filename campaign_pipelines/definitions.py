import warnings
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    with warnings.catch_warnings():
        # Dagster 1.13 hands each sensor's empty owners list on when it binds the sensor to its
        # job, and so warns on every load that `owners` is in beta: noise in every process that
        # loads the location. The binding (cached on the Definitions) is done here, filtered.
        warnings.filterwarnings("ignore", message="Parameter `owners` of initializer",
                                category=dg.BetaWarning)
        loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        loaded.get_repository_def()
    return loaded
