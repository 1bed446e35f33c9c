"""Campaign codes: CAMPAIGNCODE ``C`` + 9 digits for RB1 and RB3, XLS_OW_ID ``KKB_`` + 4 digits
for RB3. The next code follows the highest existing one; there is no timestamp fallback. Both
formats are one ``CodeSeries`` each; ``decide_codes`` says which codes a campaign gets, and the
warehouse adapters run it with allocations serialised under the registry's unique constraints."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict


class CodeSpaceExhausted(RuntimeError):
    pass


class CampaignCodes(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign_code: str
    xls_ow_id: str | None = None


@dataclass(frozen=True)
class CodeSeries:
    """A prefix-plus-counter code: ``prefix`` and ``width`` zero-padded digits, counting from 1
    up to ``last``. ``exhausted`` tells people what to do once ``last`` is taken (``{highest}``
    is filled in)."""

    name: str
    prefix: str
    width: int
    last: int
    exhausted: str
    article: str = "a"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(self.prefix)}\d{{{self.width}}}$")

    def code(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}"

    def next(self, highest: str | None) -> str:
        """The code after ``highest`` (the first one when there is none)."""
        if highest is None:
            return self.code(1)
        if not self.pattern.match(highest):
            raise ValueError(
                f"{highest!r} is not {self.article} {self.name} "
                f"({self.prefix} + {self.width} digits)"
            )
        number = int(highest[len(self.prefix) :]) + 1
        if number > self.last:
            raise CodeSpaceExhausted(self.exhausted.format(highest=highest))
        return self.code(number)

    def highest(self, candidates: Iterable[str | None]) -> str | None:
        """The highest of ``candidates`` in this series' shape; others are not its codes."""
        # Fixed width and prefix: the greatest string is the greatest number.
        valid = [c for c in candidates if c and self.pattern.match(c)]
        return max(valid) if valid else None


# Beyond C000099999 the code leaves the C0000 prefix the legacy series is read by.
CAMPAIGN_CODES = CodeSeries(
    name="CAMPAIGNCODE",
    prefix="C",
    width=9,
    last=99_999,
    exhausted=(
        "CAMPAIGNCODE series ends at C000099999 (highest is {highest}): widen the series "
        "query in the warehouse before allocating more"
    ),
)
XLS_OW_IDS = CodeSeries(
    name="XLS_OW_ID",
    prefix="KKB_",
    width=4,
    last=9999,
    exhausted=(
        "XLS_OW_ID KKB_9999 is the last of the KKB_ + 4 digits format: agree a new prefix "
        "or width with the RB3 owners before creating another RB3 campaign"
    ),
    article="an",
)
# The campaign types that are given an XLS_OW_ID.
TYPES_WITH_XLS_OW_ID = frozenset({"RB3"})


@dataclass(frozen=True)
class CodeDecision:
    """What a campaign is given, what its registry row keeps and how that row is written."""

    codes: CampaignCodes
    registry_xls_ow_id: str | None
    registry_write: Literal["insert", "update"]


def decide_codes(
    registered: tuple[str, str | None] | None,
    campaign_type: str,
    highest_in_use: Callable[[CodeSeries], str | None],
) -> CodeDecision:
    """A campaign keeps its codes: ``registered`` (its registry row's campaign_code and
    xls_ow_id, or None for a new campaign) wins; what it lacks is the next code after
    ``highest_in_use(series)``, asked only for a series that needs a new code.

    A campaign whose type changes from RB3 to RB1 keeps its XLS_OW_ID reserved in the registry
    (never reused, and taken up again if it goes back to RB3), but an RB1 campaign is given
    none."""
    if registered is not None:
        code, xls = registered
    else:
        code, xls = CAMPAIGN_CODES.next(highest_in_use(CAMPAIGN_CODES)), None
    takes_xls = str(campaign_type) in TYPES_WITH_XLS_OW_ID
    if takes_xls and xls is None:
        xls = XLS_OW_IDS.next(highest_in_use(XLS_OW_IDS))
    return CodeDecision(
        codes=CampaignCodes(campaign_code=code, xls_ow_id=xls if takes_xls else None),
        registry_xls_ow_id=xls,
        registry_write="insert" if registered is None else "update",
    )
