"""Deleting a campaign: the one function ``campaigns delete CODE`` and the ``delete`` command
of landing/commands (defs/commands/) both call.

The campaign is found by its CAMPAIGNCODE, XLS_OW_ID or key (``core/registry.registry_code``;
the ingress's DELETE accepts all three) and read with ``core/registry.campaign_details``:
- none found: ``unknown``, nothing written; the caller refuses (exit 2, or the command's file
  to rejected/ with its .error.json);
- already Deleted: ``already_deleted``, nothing written, so the first deletion time stays and
  a resent command or a retried step is no error;
- otherwise ``Deployment.delete_campaign``: its rows removed from the six tables, its ledger
  rows cleared and the registry row marked Deleted, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from campaign_pipelines.adapters.warehouse.protocol import Deployment
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.registry import bank_date, campaign_details, registry_code

Outcome = Literal["deleted", "already_deleted", "unknown"]


@dataclass(frozen=True)
class Deletion:
    reference: str  # as asked: a CAMPAIGNCODE, an XLS_OW_ID or a campaign key
    outcome: Outcome
    campaign_code: str | None = None
    rows_removed: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.outcome != "unknown"

    @property
    def message(self) -> str:
        code = masked(self.campaign_code or self.reference)
        if self.outcome == "unknown":
            return f"no campaign {masked(self.reference)}: see campaigns list"
        if self.outcome == "already_deleted":
            return f"campaign {code} was already deleted: nothing to remove"
        return f"campaign {code} removed from every table; kept as Deleted"


def delete_campaign(deployment: Deployment, reference: str, today: date | None = None
                    ) -> Deletion:
    """What became of the campaign ``reference`` names (module docstring); ``today`` (the
    bank's date, by default now's) decides its status."""
    today = today or bank_date(datetime.now(UTC))
    registry = deployment.registry()
    code = registry_code(registry, reference)
    if code is None:
        return Deletion(reference, "unknown")
    if (campaign_details(registry, code, today) or {}).get("status") == "Deleted":
        return Deletion(reference, "already_deleted", code)
    return Deletion(reference, "deleted", code, deployment.delete_campaign(code))
