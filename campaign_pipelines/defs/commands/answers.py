"""What a command handler is given and what it answers (``apply_commands``, jobs.py): one
place both the delete handler and the SMS handlers (sms_handlers.py) import."""

from collections.abc import Callable
from dataclasses import dataclass, field

from campaign_pipelines.core.commands import Command
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource


@dataclass(frozen=True)
class Resources:
    """What handlers may use; a new command's resource is added here."""

    warehouse: WarehouseResource
    campaign_data: CampaignDataResource


@dataclass(frozen=True)
class Applied:
    """A command's answer: ``problems`` empty when applied, else why it was refused."""

    outcome: str
    # Fit for logs and metadata as they are: a campaign through masked() (a CAMPAIGNCODE or
    # XLS_OW_ID stays whole), never a value of a refused field.
    campaign: str
    message: str
    problems: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)


Handler = Callable[[Command, Resources], Applied]
