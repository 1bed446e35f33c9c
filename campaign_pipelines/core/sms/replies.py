"""What an inbound SMS means: an opt-out, an opt-in, or a reply a person should read.

Decisions:
- The whole message is the keyword, as carriers and Twilio read it: "STOP" and " stop! " opt
  out, "please stop sending" is a reply (kept and counted, for a person to act on). The text is
  NFKC-normalised and casefolded (Cyrillic too: "Стоп", "тоқтату"), and everything that is
  not a letter or digit around it (blanks, punctuation, quotes, emoji) is trimmed.
- Opt-out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, the Russian СТОП and the Kazakh
  ТОҚТАТУ, also as ТОКТАТУ (typed on a keyboard without Kazakh letters).
- Opt-in: START and UNSTOP, and the Russian СТАРТ, the counterpart of СТОП.
- Opt-outs and opt-ins are global (core decides the kind; the suppression list is the store's):
  a STOP to one campaign stops every campaign.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

OPT_OUT_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                 "СТОП", "ТОҚТАТУ", "ТОКТАТУ")
OPT_IN_WORDS = ("START", "UNSTOP", "СТАРТ")


class ReplyKind(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    REPLY = "reply"


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


_KINDS = {**{_key(word): ReplyKind.OPT_OUT for word in OPT_OUT_WORDS},
          **{_key(word): ReplyKind.OPT_IN for word in OPT_IN_WORDS}}


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    keyword: str | None  # the keyword as listed above, for opt-outs and opt-ins


def _trimmed(text: str) -> str:
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end]


def classify_reply(body: str | None) -> Reply:
    """The meaning of an inbound message's ``body`` (the module's decisions)."""
    key = _trimmed(_key(body or ""))
    kind = _KINDS.get(key, ReplyKind.REPLY)
    if kind is ReplyKind.REPLY:
        return Reply(kind, None)
    words = OPT_OUT_WORDS if kind is ReplyKind.OPT_OUT else OPT_IN_WORDS
    return Reply(kind, next(word for word in words if _key(word) == key))
