"""Lint of a journey config: what would break (errors) or surprise (warnings) before anyone
posts it or runs the batch with it."""

from __future__ import annotations

from campaign_pipelines.core.streaks.chains import Finding, chain_findings
from campaign_pipelines.core.streaks.config import (
    BATCH,
    NA,
    STATE_ATTRIBUTES,
    ConfigError,
    JourneyConfig,
    Rule,
)
from campaign_pipelines.core.streaks.eligibility import batch_campaign_names
from campaign_pipelines.core.streaks.operators import (
    BACKEND_OPERATORS,
    admitted_streaks,
    operator_problem,
)


def lint(config: JourneyConfig, backend: str) -> list[Finding]:
    if backend not in BACKEND_OPERATORS:
        raise ValueError(f"unknown target backend {backend!r}; use {sorted(BACKEND_OPERATORS)}")
    findings = _campaign_findings(config) + batch_name_findings(config, batch_campaign_names())
    for index, rule in enumerate(config.rules):
        findings += _rule_findings(config, index, rule, backend)
    findings += _coverage_findings(config)
    return findings + chain_findings(config)


def errors_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def require_valid(config: JourneyConfig, backend: str, source: str) -> list[Finding]:
    """Raises ConfigError on any error; returns the warnings."""
    findings = lint(config, backend)
    errors = errors_of(findings)
    if errors:
        raise ConfigError(source, [e.as_dict() for e in errors])
    return [f for f in findings if f.level == "warning"]


def _campaign_findings(config: JourneyConfig) -> list[Finding]:
    findings, names, ids = [], set(), set()
    for c in config.campaigns:
        if c.name == NA:
            findings.append(Finding("error", "campaigns", "a campaign is named \"NA\"",
                                    "\"NA\" means no streak; rename the campaign"))
        if c.name in names:
            findings.append(Finding("error", f"campaigns.{c.name}", "name listed twice",
                                    "keep one entry per campaign name"))
        if c.id in ids:
            findings.append(Finding("error", f"campaigns.{c.name}.id", f"id {c.id} used twice",
                                    "give every campaign its own id"))
        names.add(c.name)
        ids.add(c.id)
    return findings


def batch_name_findings(config: JourneyConfig, code_names: list[str]) -> list[Finding]:
    """The daily batch assigns users to ``code_names`` by name: a name the config lacks (say,
    renamed in the config service) would block every user the batch picks for it, and a batch
    campaign the code does not know would never be assigned. Both ways are errors."""
    in_config = config.batch_campaigns()
    findings = []
    for name in code_names:
        if name in in_config:
            continue
        campaign = config.campaign(name)
        problem = (f"the daily batch assigns users to {name!r}, which this config does not "
                   "have" if campaign is None else
                   f"the daily batch assigns users to {name!r}, which this config has as "
                   f"kind {campaign.kind}")
        findings.append(Finding(
            "error", f"campaigns.{name}", problem,
            f"keep {name!r} as a batch campaign in the config (a rename needs a code change "
            "in core/streaks/eligibility.py, released first)"))
    for name in in_config:
        if name not in code_names:
            findings.append(Finding(
                "error", f"campaigns.{name}.kind",
                f"batch campaign {name!r} is unknown to the daily batch, which assigns only "
                f"{code_names}",
                f"rename it back to one of {code_names}, make it kind experiment, or add its "
                "eligibility to core/streaks/eligibility.py"))
    return findings


def _rule_findings(config: JourneyConfig, index: int, rule: Rule, backend: str) -> list[Finding]:
    where = f"rules[{index}] ({rule.config_key})"
    names = config.campaign_names()
    findings = []
    for label, value in (("conditions.assign_next_streak_type", rule.campaign),
                         ("metadata.next_eligible_streak_type", rule.target)):
        if value not in names:
            findings.append(Finding("error", f"{where}.{label}",
                                    f"{value!r} is not a campaign of this config",
                                    f"use one of {names}"))
    if rule.config_key != rule.campaign:
        findings.append(Finding("warning", f"{where}.config_key",
                                f"config_key {rule.config_key!r} differs from the campaign "
                                f"{rule.campaign!r}", "the legacy backend keys rules by it"))
    supported = BACKEND_OPERATORS[backend]
    for attribute in rule.uas_attributes:
        field = f"{where}.uas_attributes.{attribute.attribute}"
        problem = operator_problem(attribute)
        if problem:
            findings.append(Finding("error", field, problem, "fix the operator or value"))
        elif attribute.operator not in supported:
            findings.append(Finding(
                "warning", field,
                f"operator {attribute.operator} is not supported by the {backend} backend "
                f"(it supports {sorted(supported)})",
                "split the rule into one block per value with EQ (the seed's Option 3)",
            ))
        if attribute.attribute not in STATE_ATTRIBUTES:
            findings.append(Finding("error", field, f"unknown attribute {attribute.attribute!r}",
                                    f"use one of {list(STATE_ATTRIBUTES)}"))
    return findings + _protection_findings(config, where, rule)


def _protection_findings(config: JourneyConfig, where: str, rule: Rule) -> list[Finding]:
    """A batch campaign's rule must never admit a user who is in an experiment."""
    campaign = config.campaign(rule.campaign or "")
    if campaign is None or campaign.kind != BATCH:
        return []
    admitted = admitted_streaks(rule.uas_attributes)
    safe = {NA, *config.batch_campaigns()}
    if admitted is not None and admitted <= safe:
        return []
    exposed = sorted(set(config.experiments()) if admitted is None
                     else admitted - safe)
    return [Finding("warning", f"{where}.uas_attributes",
                    f"batch campaign {campaign.name} can move users out of other streaks "
                    f"(experiments exposed: {exposed})",
                    "add streak_type EQ NA (or list only NA and batch campaigns)")]


def _coverage_findings(config: JourneyConfig) -> list[Finding]:
    served = {r.campaign for r in config.rules}
    return [Finding("warning", f"campaigns.{name}", "no rule assigns this campaign",
                    "add a rule whose conditions.assign_next_streak_type names it")
            for name in config.campaign_names() if name not in served]
