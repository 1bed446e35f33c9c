"""Chains (A → B → C) and the validation of a campaign registration.

A campaign's ``next`` names its successor; "NA" ends the chain. Registration is refused when
the successor does not exist, the name or id is taken, or the chain would loop. A hop into an
NA-protected batch campaign is allowed but warned about: it only fires for users on NA, and a
user who just completed a streak is never on NA, so in practice the hop is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaign_pipelines.core.streaks.config import (
    NA,
    Campaign,
    JourneyConfig,
    rule_for_campaign,
)


@dataclass(frozen=True)
class Finding:
    level: str  # "error" refuses the config or registration; "warning" is printed
    field: str
    problem: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "field": self.field, "problem": self.problem,
                "fix": self.fix}


def chain_findings(config: JourneyConfig) -> list[Finding]:
    """Unknown successors, loops, and hops that NA protection will block."""
    names = config.campaign_names()
    successors = config.chain_successors()
    protected = _na_protected(config)
    findings = []
    for campaign in config.campaigns:
        nxt = campaign.next
        field = f"campaigns.{campaign.name}.next"
        if nxt is None or nxt == NA:
            continue
        if nxt not in successors:
            findings.append(Finding("error", field, f"next campaign {nxt!r} does not exist",
                                    f"use \"NA\" or one of the existing campaigns: {names}"))
        elif nxt in protected:
            findings.append(Finding(
                "warning", field,
                f"{campaign.name} → {nxt}: {nxt} is an NA-protected batch campaign, so this "
                "hop only fires for users on NA (users completing "
                f"{campaign.name} are not): it will be recorded as blocked",
                "chain into an experiment, or end the chain with \"NA\" and let the batch "
                "assign the user",
            ))
    for loop in find_cycles(successors):
        findings.append(Finding("error", f"campaigns.{loop[0]}.next",
                                "chain loops: " + " → ".join([*loop, loop[0]]),
                                "end one campaign of the loop with \"NA\" or another campaign"))
    return findings


def find_cycles(successors: dict[str, str | None]) -> list[list[str]]:
    """Each loop once, starting at its smallest name (so the report is stable)."""
    loops, seen = [], set()
    for start in sorted(successors):
        path, node = [], start
        while node in successors and node not in seen and node not in path:
            path.append(node)
            node = successors[node]
        if node in path:
            loop = path[path.index(node):]
            first = loop.index(min(loop))
            loops.append(loop[first:] + loop[:first])
        seen.update(path)
    return loops


def _na_protected(config: JourneyConfig) -> set[str]:
    """Campaigns every one of whose rules demands streak_type EQ NA."""
    by_campaign: dict[str, list[bool]] = {}
    for rule in config.rules:
        by_campaign.setdefault(rule.campaign or "", []).append(rule.na_protected)
    return {name for name, flags in by_campaign.items() if flags and all(flags)}


def registration_findings(existing: JourneyConfig, campaign: Campaign) -> list[Finding]:
    """Everything wrong with adding ``campaign`` (errors) or worth knowing (warnings)."""
    names = existing.campaign_names()
    findings = []
    if campaign.name == NA:
        findings.append(Finding("error", "name", "\"NA\" means \"in no streak\"",
                                "choose another campaign name"))
    if campaign.name in names:
        findings.append(Finding("error", "name", f"campaign {campaign.name!r} already exists",
                                f"choose a name not in {names}"))
    taken = {c.id: c.name for c in existing.campaigns}
    if campaign.id in taken:
        findings.append(Finding("error", "id",
                                f"id {campaign.id!r} is already used by {taken[campaign.id]!r}",
                                f"choose an id not in {sorted(taken)}"))
    if findings:
        return findings
    return chain_findings(with_campaign(existing, campaign))


def with_campaign(existing: JourneyConfig, campaign: Campaign) -> JourneyConfig:
    """The config after registration: the campaign, its rule, the version bumped."""
    return JourneyConfig(
        version=existing.version + 1,
        campaigns=[*existing.campaigns, campaign],
        rules=[*existing.rules, rule_for_campaign(campaign)],
    )
