"""What `campaigns list`, `campaigns show CODE` and `campaigns next-code TYPE` answer, computed
in one place for the command line (cli.py prints it) and the ingress (``GET /campaigns``,
``/campaigns/{code}``, ``/campaigns/next-code``, which send it): the same body, encoded the
same way (``as_json``).

No Dagster here: the ingress imports this module on its first read, and its workers never load
Dagster. The command line passes the deployment of its code location's warehouse resource; the
ingress passes ``read_only_deployment``, the same warehouse chosen by the same settings
(``defs/settings.py``), opened for reading only: a DuckDB file with ``read_only=True`` and a
short lock wait, Oracle with the login the warehouse resource reads (``ORACLE_DSN``,
``ORACLE_USER``, ``ORACLE_PASSWORD``). ``said`` turns whatever keeps a read from being
answered now into ``Unavailable`` (problem, fix), never quoting a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Protocol

import duckdb
import oracledb
from pydantic import SecretStr

from campaign_pipelines.adapters.warehouse.duckdb import (
    DuckDBDeployment,
    DuckDBWarehouse,
    IncompleteWarehouseError,
    WarehouseLockedError,
    WarehouseMissingError,
)
from campaign_pipelines.adapters.warehouse.oracle import MissingTablesError
from campaign_pipelines.adapters.warehouse.protocol import Deployment
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.registry import bank_date, campaign_details, campaign_list
from campaign_pipelines.defs.settings import SettingError, Settings

CAMPAIGN_TYPES = ("RB1", "RB3")
ORACLE_VARIABLES = ("ORACLE_DSN", "ORACLE_USER", "ORACLE_PASSWORD")


class UnknownCampaign(LookupError):
    """No campaign has this code (or key)."""

    def __init__(self, code: str):
        self.code, self.problem, self.fix = code, f"no campaign {code}", "see campaigns list"
        super().__init__(f"{self.problem}: {self.fix}")


class Unavailable(RuntimeError):
    """The warehouse cannot be read now; ``problem`` and ``fix`` are for people."""

    def __init__(self, problem: str, fix: str):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem}. Fix: {fix}")


def bank_today() -> date:
    return bank_date(datetime.now(UTC))


def campaigns_page(
    deployment: Deployment,
    *,
    campaign_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
    include_deleted: bool = False,
) -> dict:
    """`campaigns list`: a page of the registry, newest first, with counts per type."""
    return campaign_list(
        deployment.registry(),
        bank_today(),
        campaign_type=campaign_type,
        limit=limit,
        offset=offset,
        include_deleted=include_deleted,
        ledger=deployment.deployments(),
    )


def campaign_shown(deployment: Deployment, code: str) -> dict:
    """`campaigns show CODE`: the registry row, its status and deployment; UnknownCampaign."""
    found = campaign_details(
        deployment.registry(), code, bank_today(), ledger=deployment.deployments()
    )
    if found is None:
        raise UnknownCampaign(code)
    return found


def next_code_preview(deployment: Deployment, campaign_type: str) -> dict:
    """`campaigns next-code TYPE`: the codes a new campaign would get now; allocates nothing."""
    kind = campaign_type.upper()
    codes = deployment.preview_codes(kind)
    body = {
        "campaign_code": codes.campaign_code,
        "campaign_type": kind,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if codes.xls_ow_id:
        body["xls_ow_id"] = codes.xls_ow_id
    return body


def as_json(body: object, indent: int | None = None) -> str:
    """The one encoding of these answers: dates and timestamps as ``str`` gives them."""
    return json.dumps(body, ensure_ascii=False, indent=indent, default=str)


class OracleLogin(Protocol):
    """Where the Oracle login comes from: the ingress's settings (ingress/settings.py), which
    import nothing of this module's layer and are not imported here."""

    oracle_dsn: str | None
    oracle_user: str | None
    oracle_password: SecretStr | None


def read_only_deployment(
    settings: Settings, lock_wait_s: float, ingress: OracleLogin
) -> Deployment:
    """The warehouse ``settings`` choose (as ``defs/resources.warehouse_resource`` does), for
    reads only, Oracle with ``ingress``'s login; a DuckDB reader waits at most ``lock_wait_s``
    for a writer's lock."""
    if settings.warehouse == "oracle":
        from campaign_pipelines.adapters.warehouse.oracle import (
            OracleDeployment,
            OracleWarehouse,
        )

        login = (ingress.oracle_dsn, ingress.oracle_user, ingress.oracle_password)
        unset = [name for name, value in zip(ORACLE_VARIABLES, login, strict=True) if not value]
        if unset:
            raise Unavailable(f"{', '.join(unset)} not set (CAMPAIGN_WAREHOUSE=oracle)",
                              "set them as for the code location, and restart the ingress")
        from campaign_pipelines.adapters.warehouse.oracle_connections import (
            use_client_libraries,
        )

        assert ingress.oracle_dsn and ingress.oracle_user and ingress.oracle_password
        use_client_libraries(str(settings.oracle_client_lib_dir or "") or None)  # thick mode too
        return OracleDeployment(OracleWarehouse(
            dsn=ingress.oracle_dsn, user=ingress.oracle_user,
            password=ingress.oracle_password.get_secret_value(),
        ))
    timeout = min(lock_wait_s, settings.duckdb_lock_timeout_s)
    return DuckDBDeployment(
        DuckDBWarehouse(settings.database, lock_timeout_s=timeout, read_only=True)
    )


@contextmanager
def said() -> Iterator[None]:
    """The errors of a read that a person can act on, as ``Unavailable``."""
    try:
        yield
    except SettingError as error:
        raise Unavailable(str(error), "fix the variable and restart the ingress") from error
    except WarehouseLockedError as error:
        raise Unavailable(
            f"the warehouse {error.path} is locked by {error.holder}, which is writing it "
            "(a deployment or a command)",
            "send the request again in a few seconds, or stop the other process",
        ) from error
    except (WarehouseMissingError, IncompleteWarehouseError) as error:
        problem, _, fix = str(error).partition(". Fix: ")
        raise Unavailable(problem, fix) from error
    except MissingTablesError as error:
        raise Unavailable(str(error), "run `campaigns db init`") from error
    except (duckdb.Error, oracledb.Error, OSError) as error:
        first_line = masked(str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise Unavailable(f"the warehouse could not be read: {first_line}",
                          "send the request again later; see the ingress log") from error
