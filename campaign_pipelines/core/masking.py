"""Text fit for logs, skip reasons, cursors and UI metadata: no whole IIN, phone number or e-mail.

Free text (a file name, a parser's message) may quote what a person sent. Every run of nine or
more digits, spaced or not, keeps only its first and last two (``mask_iin``); an e-mail keeps
its first letter and its domain. Run ids (UUIDs), campaign codes (``C000000123``, ``KKB_0042``)
and the UTC stamps the landing zone and the ingress add to names (``20261130T013000123456Z``)
are left whole: they identify no one. A run of digits stops where such a stamp begins, so
``delete-C000000001-20261130T033210127716Z.json`` reads as it is.
"""

import re

from campaign_pipelines.core.iin import mask_iin

_STAMP = r"\d{8}T\d{12}Z"
_PRIVATE = re.compile(
    r"(?P<keep>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|" + _STAMP
    + r"|(?<![A-Za-z0-9])(?:C\d{9}|KKB_\d{4})(?!\d))"
    r"|(?P<digits>\+?\d(?:[\s()-]{0,2}(?!" + _STAMP + r")\d){8,})"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
)


def masked(text: str) -> str:
    """``text`` fit for a skip reason or a cursor: no whole IIN, phone number or e-mail."""

    def mask(match: re.Match) -> str:
        if match["keep"]:
            return match["keep"]
        if match["email"]:
            local, _, domain = match["email"].partition("@")
            return f"{local[:1]}***@{domain}"
        return mask_iin(match["digits"])

    return _PRIVATE.sub(mask, text)
