"""How an optional secret reaches a resource: as ``dg.EnvVar(name)`` when it is set, so Dagster
resolves it when a run uses it and no value is ever written into a definition, else "" (the
resource then says what is missing)."""

import dagster as dg


def optional_secret(name: str) -> str | dg.EnvVar:
    return dg.EnvVar(name) if dg.EnvVar(name).get_value() else ""
