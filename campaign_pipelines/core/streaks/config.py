"""The journey config: campaigns and the rules that assign users to them.

A rule keeps the legacy shape field for field, so a config can be posted to the legacy backend
unchanged::

    conditions:      {assign_next_streak_type: <campaign>}    # which pending assignment it serves
    uas_attributes:  [{streak_type: EQ, value: NA}]           # all must hold on the user state
    config_key:      <campaign>
    metadata:        {next_eligible_streak_type: <campaign>}  # the streak the user moves to

Internally a uas attribute is ``(attribute, operator, value)``; it is read from and written back
to the legacy one-key form ``{<attribute>: <OPERATOR>, value: <value>}``.

Campaigns carry what the legacy registration collected (name, id, type, banner, subtitle), its
chain successor ``next`` ("NA" ends a chain and releases the user; left out, a completed user
stays on the campaign) and ``kind``: ``batch`` (assigned by the daily batch, NA-protected) or
``experiment`` (assigned by hand, no NA check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from campaign_pipelines.core.problems import ProblemsError

NA = "NA"
BATCH, EXPERIMENT = "batch", "experiment"

# The user-state columns a uas attribute may test (campaign_ops.user_streak_state).
STATE_ATTRIBUTES = ("streak_type", "next_eligible_streak_type", "streak_status")


class ConfigError(ProblemsError):
    """A journey config that cannot be used; ``problems`` name the place and the fix."""

    def __init__(self, source: str, problems: list[dict[str, str]]):
        self.source = source
        super().__init__(problems, source)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class UasAttribute(_Strict):
    attribute: str
    operator: str
    value: str | list[str]

    @classmethod
    def from_legacy(cls, raw: Any) -> UasAttribute:
        if isinstance(raw, UasAttribute):
            return raw
        if not isinstance(raw, dict) or "value" not in raw:
            raise ValueError(f"expected {{<attribute>: <OPERATOR>, value: ...}}, got {raw!r}")
        rest = {k: v for k, v in raw.items() if k != "value"}
        if len(rest) != 1:
            raise ValueError(f"expected exactly one <attribute>: <OPERATOR> pair, got {rest!r}")
        (attribute, operator), = rest.items()
        value = raw["value"]
        value = [str(v) for v in value] if isinstance(value, list) else str(value)
        return cls(attribute=str(attribute), operator=str(operator).upper(), value=value)

    def to_legacy(self) -> dict[str, Any]:
        return {self.attribute: self.operator, "value": self.value}

    def describe(self) -> str:
        return f"{self.attribute} {self.operator} {self.value}"


class Rule(_Strict):
    conditions: dict[str, str]
    uas_attributes: list[UasAttribute] = []
    config_key: str
    metadata: dict[str, str]

    @field_validator("uas_attributes", mode="before")
    @classmethod
    def _legacy_attributes(cls, value: Any) -> Any:
        return [UasAttribute.from_legacy(item) for item in value or []]

    @property
    def campaign(self) -> str | None:
        """The pending assignment this rule serves."""
        return self.conditions.get("assign_next_streak_type")

    @property
    def target(self) -> str | None:
        """The streak a user moves to when the rule applies."""
        return self.metadata.get("next_eligible_streak_type")

    @property
    def na_protected(self) -> bool:
        return any(
            a.attribute == "streak_type" and a.operator == "EQ" and a.value == NA
            for a in self.uas_attributes
        )

    def to_legacy(self) -> dict[str, Any]:
        body: dict[str, Any] = {"conditions": dict(self.conditions)}
        if self.uas_attributes:
            body["uas_attributes"] = [a.to_legacy() for a in self.uas_attributes]
        body["config_key"] = self.config_key
        body["metadata"] = dict(self.metadata)
        return body


class Campaign(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    id: str = Field(min_length=1, max_length=50)
    type: str = Field(min_length=1)
    kind: Literal["batch", "experiment"] = EXPERIMENT
    banner: str = ""
    subtitle: str = ""
    next: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class JourneyConfig(_Strict):
    version: int = Field(ge=0)
    campaigns: list[Campaign]
    rules: list[Rule]

    def campaign_names(self) -> list[str]:
        return [c.name for c in self.campaigns]

    def campaign(self, name: str) -> Campaign | None:
        return next((c for c in self.campaigns if c.name == name), None)

    def batch_campaigns(self) -> list[str]:
        return [c.name for c in self.campaigns if c.kind == BATCH]

    def experiments(self) -> list[str]:
        return [c.name for c in self.campaigns if c.kind == EXPERIMENT]

    def chain_successors(self) -> dict[str, str | None]:
        return {c.name: c.next for c in self.campaigns}

    def to_document(self) -> dict[str, Any]:
        """The config as the YAML file and the config service hold it (legacy rule shape)."""
        return {
            "version": self.version,
            "campaigns": [c.model_dump(exclude_defaults=False) for c in self.campaigns],
            "rules": [r.to_legacy() for r in self.rules],
        }


def parse_config(document: Any, source: str) -> JourneyConfig:
    """Validates a loaded YAML/JSON document; ConfigError names each bad field."""
    if not isinstance(document, dict):
        raise ConfigError(source, [{"field": "(top)", "problem": "not a mapping",
                                    "fix": "give version, campaigns and rules"}])
    try:
        return JourneyConfig.model_validate(document)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(top)", "problem": e["msg"],
             "fix": "see core/streaks/README.md for the journey config shape"}
            for e in error.errors()
        ]
        raise ConfigError(source, problems) from None


def rule_for_campaign(campaign: Campaign) -> Rule:
    """The assignment rule a campaign gets when registered: NA-protected for batch campaigns,
    none for experiments (the seed's approved Option 1)."""
    uas = [UasAttribute(attribute="streak_type", operator="EQ", value=NA)]
    return Rule(
        conditions={"assign_next_streak_type": campaign.name},
        uas_attributes=uas if campaign.kind == BATCH else [],
        config_key=campaign.name,
        metadata={"next_eligible_streak_type": campaign.name},
    )


class ConfigVersionUnknown(ConfigError):
    """The config something was built with cannot be had any more (or was never recorded)."""


def config_as_built(
    what: str,
    recorded_version: int | None,
    recorded_document: Any | None,
    current: Callable[[], JourneyConfig],
) -> JourneyConfig:
    """The journey config ``what`` was built with: the config document it recorded, else the
    current config (``current()``, read only then) while it still is the recorded version.
    Checking against any other version would judge yesterday's result by today's rules, so
    ConfigVersionUnknown says why the config is unknown instead."""
    if recorded_document is not None:
        return parse_config(recorded_document, what)
    if recorded_version is None:
        raise ConfigVersionUnknown(what, [{
            "field": "config_version",
            "problem": f"{what} recorded no journey config version",
            "fix": "the asset must record config_version (the journey config version it "
                   "used) in its materialization metadata; then materialize it again",
        }])
    config = current()
    if config.version != recorded_version:
        raise ConfigVersionUnknown(what, [{
            "field": "config_version",
            "problem": f"{what} was built with journey config version {recorded_version}; "
                       f"the config is now version {config.version}",
            "fix": f"materialize it again to build and check it with version {config.version}",
        }])
    return config
