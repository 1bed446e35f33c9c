"""How an asset refuses bad input: one ``dg.Failure`` shape for every domain (STYLE.md rule 8).

Transient errors (a warehouse timeout, the config service down) are not refusals: they
propagate, or fail with retries allowed, so the retry policy tries again; see
``defs/deployment/errors.py`` for the warehouse's own split.
"""

import dagster as dg


def fail(problem: str, problems: list | None = None) -> dg.Failure:
    """A failure that names the problem and is not retried (the same input fails the same
    way); ``problems`` (field, problem, fix) go into the run's metadata as JSON."""
    metadata = {"problems": dg.MetadataValue.json(problems)} if problems else None
    return dg.Failure(description=problem, metadata=metadata, allow_retries=False)
