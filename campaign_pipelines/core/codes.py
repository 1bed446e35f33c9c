"""Campaign codes: CAMPAIGNCODE ``C`` + 9 digits for RB1 and RB3, XLS_OW_ID ``KKB_`` + 4 digits
for RB3. The next code follows the highest existing one; there is no timestamp fallback: a code
that cannot be allocated under the warehouse's unique constraint fails the run, which retries."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

CAMPAIGN_CODE = re.compile(r"^C\d{9}$")
XLS_OW_ID = re.compile(r"^KKB_\d{4}$")
FIRST_CAMPAIGN_CODE = "C000000001"
FIRST_XLS_OW_ID = "KKB_0001"


class CodeSpaceExhausted(RuntimeError):
    pass


class CampaignCodes(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign_code: str
    xls_ow_id: str | None = None


def next_campaign_code(highest: str | None) -> str:
    """C000012345 → C000012346; the legacy series only counts codes of the ``C0000…`` shape."""
    if highest is None:
        return FIRST_CAMPAIGN_CODE
    if not CAMPAIGN_CODE.match(highest):
        raise ValueError(f"{highest!r} is not a CAMPAIGNCODE (C + 9 digits)")
    number = int(highest[1:]) + 1
    if number > 99_999:
        # Beyond C000099999 the code leaves the C0000 prefix the legacy series is read by.
        raise CodeSpaceExhausted(
            f"CAMPAIGNCODE series ends at C000099999 (highest is {highest}): widen the series "
            "query in the warehouse before allocating more"
        )
    return f"C{number:09d}"


def next_xls_ow_id(highest: str | None) -> str:
    """KKB_0123 → KKB_0124; KKB_9999 is the end of the format."""
    if highest is None:
        return FIRST_XLS_OW_ID
    if not XLS_OW_ID.match(highest):
        raise ValueError(f"{highest!r} is not an XLS_OW_ID (KKB_ + 4 digits)")
    number = int(highest[4:]) + 1
    if number > 9999:
        raise CodeSpaceExhausted(
            "XLS_OW_ID KKB_9999 is the last of the KKB_ + 4 digits format: agree a new prefix "
            "or width with the RB3 owners before creating another RB3 campaign"
        )
    return f"KKB_{number:04d}"


def highest_code(candidates: list[str | None], pattern: re.Pattern[str]) -> str | None:
    valid = [c for c in candidates if c and pattern.match(c)]
    return max(valid) if valid else None
