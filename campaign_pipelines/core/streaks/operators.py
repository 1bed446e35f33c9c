"""Operators of uas attributes and which backend evaluates which.

=========  ============================  ======================  ==========================
operator   value                         legacy backend          campaign_pipelines engine
=========  ============================  ======================  ==========================
EQ         one string                    yes (the only one)      yes
NEQ        one string                    no                      yes
IN         a list of strings             no                      yes
=========  ============================  ======================  ==========================

The seed's verification found only EQ in the production (legacy) backend, so a config meant
for it must stay EQ-only; ``lint`` warns about every other operator for that target.
Missing values (a null ``next_eligible_streak_type``) never equal anything: EQ and IN are false
on them and NEQ is true.
"""

from __future__ import annotations

import polars as pl

from campaign_pipelines.core.streaks.config import UasAttribute

OPERATORS = ("EQ", "NEQ", "IN")
LEGACY, ENGINE = "legacy", "campaign_pipelines"
BACKEND_OPERATORS: dict[str, frozenset[str]] = {
    LEGACY: frozenset({"EQ"}),
    ENGINE: frozenset(OPERATORS),
}


def operator_problem(attribute: UasAttribute) -> str | None:
    """Why this attribute cannot be evaluated at all, or None."""
    if attribute.operator not in OPERATORS:
        return f"unknown operator {attribute.operator!r}; use one of {list(OPERATORS)}"
    is_list = isinstance(attribute.value, list)
    if attribute.operator == "IN" and not is_list:
        return "IN needs a list value, e.g. value: [NA, upi_25x1_streak]"
    if attribute.operator != "IN" and is_list:
        return f"{attribute.operator} needs one value, not a list (use IN for a list)"
    return None


def expression(attribute: UasAttribute) -> pl.Expr:
    """The attribute as a boolean polars expression over the user-state columns."""
    column = pl.col(attribute.attribute)
    if attribute.operator == "EQ":
        return column.eq_missing(pl.lit(attribute.value, dtype=pl.String))
    if attribute.operator == "NEQ":
        return column.ne_missing(pl.lit(attribute.value, dtype=pl.String))
    if attribute.operator == "IN":
        return column.is_in(pl.Series(attribute.value, dtype=pl.String).implode()).fill_null(False)
    raise ValueError(operator_problem(attribute))


def admitted_streaks(attributes: list[UasAttribute]) -> set[str] | None:
    """The streak_type values a rule admits, or None when it admits any (or an open set)."""
    admitted: set[str] | None = None
    for attribute in attributes:
        if attribute.attribute != "streak_type":
            continue
        if attribute.operator == "EQ":
            values = {str(attribute.value)}
        elif attribute.operator == "IN":
            values = set(attribute.value)
        else:
            continue  # NEQ excludes one value: still an open set
        admitted = values if admitted is None else admitted & values
    return admitted
