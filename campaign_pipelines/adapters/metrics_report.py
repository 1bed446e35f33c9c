"""A campaign's outcome as one self-contained HTML file (`campaigns metrics report CODE`).

Contract:
- Self-contained: the two charts of core/metrics/charts.py are embedded as ``data:`` URIs and the
  CSS is inline; the page makes no request of its own, so it opens offline, from an e-mail
  attachment or a file share alike.
- Every value is text for people: passed through ``core.masking.masked`` (no whole IIN, phone
  number or e-mail survives, whatever ``figures`` holds) and then ``html.escape``.
- The outcome section shows both groups' rates with their 95 % intervals, the absolute uplift
  with its 95 % interval, the relative uplift, the p-value, and the sample-ratio check; a failed
  check is a warning box (``role="alert"``) that says not to trust the uplift; when no uplift
  can be reported, the outcome's ``reason`` says why in its place.
- ``figures`` is what the caller knows of the campaign besides its outcome, rendered generically
  in its own order, one titled table per key::

      {"campaign":   {"code": "C000000001", "name": "...", "type": "RB1",
                      "period": "2026-12-01 to 2026-12-31"},      # mapping: name | value
       "funnel":     {"input": 2000, "after_blacklist": 1950},    # mapping: name | value
       "deployment": {"dssb_ocds.mb22_local_target": 1200},      # mapping: name | value
       "sends":      {"email": {"queued": 10, "sent": 9},         # mapping of mappings: one row
                      "sms": {"queued": 5, "sent": 5}},           #   per key, a column per field
       "notes":      [{"day": "2026-12-01", "text": "..."}]}      # list of mappings: rows

  A scalar value is a paragraph; None is shown as "–". ``figures["campaign"]`` (its ``name``
  and ``code``) also titles the page. Numbers are counts or fractions: ints get thousands
  separators, floats 4 significant digits.
- Written atomically (adapters/atomic_write.py: temp file beside ``out``, fsync, rename), mode
  0644 like any report a person saves; the same outcome and figures give the same bytes.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TypeGuard

from campaign_pipelines.adapters.atomic_write import write_bytes_atomic
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.metrics.charts import conversion_chart, cumulative_chart
from campaign_pipelines.core.metrics.outcomes import CONFIDENCE, SRM_ALPHA, Outcome

REPORT_MODE = 0o644
TITLES = {"sends": "Sends by channel", "deployment": "Deployed rows", "funnel": "Audience funnel"}

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:2rem auto;
max-width:62rem;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.lede{color:#555;margin-top:0}table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f5f7}
.uplift{font-size:1.1rem}.nw{white-space:nowrap}.verdict{font-weight:600}
.warning{background:#fff4e5;border-left:5px solid #d9822b;padding:.6rem 1rem}
.ok{background:#eef7ee;border-left:5px solid #3a9a3a;padding:.6rem 1rem}
.reason{background:#f1f1f4;border-left:5px solid #888;padding:.6rem 1rem}
figure{display:inline-block;margin:.5rem 1rem .5rem 0}figcaption{color:#555;font-size:.85rem}
footer{margin-top:2.5rem;color:#666;font-size:.8rem}
"""


def write_report(outcome: Outcome, figures: dict, out: Path) -> Path:
    """Writes the report of ``outcome`` and ``figures`` (shape: the module's docstring) to
    ``out``, creating its folder; returns ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, render(outcome, figures).encode("utf-8"), mode=REPORT_MODE)
    return out


def render(outcome: Outcome, figures: Mapping) -> str:
    """The report's HTML text."""
    title = _page_title(figures)
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_text(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_text(title)}</h1>",
        f'<p class="lede">{_text(_lede(outcome))}</p>',
        _outcome_section(outcome),
        _charts_section(outcome),
        *(_figure_section(key, value) for key, value in figures.items()),
        f"<footer>{_text(_method_note())}</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _page_title(figures: Mapping) -> str:
    campaign = figures.get("campaign")
    if isinstance(campaign, Mapping):
        name, code = campaign.get("name"), campaign.get("code")
        label = " · ".join(str(part) for part in (name, code) if part)
        if label:
            return f"Campaign outcome: {label}"
    return "Campaign outcome"


def _lede(outcome: Outcome) -> str:
    window = (f", plus an attribution window of {outcome.window_days} days"
              if outcome.window_days else "")
    return (f"Conversion on “{outcome.action}” from {outcome.start.isoformat()} to "
            f"{outcome.end.isoformat()}{window}: target group against control group.")


def _outcome_section(outcome: Outcome) -> str:
    rows = [
        ("target", outcome.target_users, outcome.target_conversions, outcome.target_rate,
         outcome.target_rate_ci),
        ("control", outcome.control_users, outcome.control_conversions, outcome.control_rate,
         outcome.control_rate_ci),
    ]
    body = "".join(
        f"<tr><th>{group}</th><td class=n>{_value(users)}</td><td class=n>{_value(converted)}"
        f"</td><td class=n>{_pct(rate)}</td><td class=n>{_interval_pct(ci)}</td></tr>"
        for group, users, converted, rate, ci in rows)
    table = ('<table id="groups"><tr><th>group</th><th>users</th><th>converted</th>'
             f"<th>conversion</th><th>{_confidence()} interval</th></tr>{body}</table>")
    return "\n".join(['<section id="outcome"><h2>What the campaign changed</h2>', table,
                      _uplift(outcome), _sample_ratio(outcome), "</section>"])


def _uplift(outcome: Outcome) -> str:
    reason = (f'<p class="reason" id="no-uplift">No uplift interval reported: '
              f"{_text(outcome.reason)}</p>" if outcome.reason else "")
    if outcome.uplift_abs is None:
        return reason
    line = f"Uplift: <strong>{_points(outcome.uplift_abs)}</strong>"
    if outcome.uplift_abs_ci is not None:
        low, high = outcome.uplift_abs_ci
        line += f" ({_confidence()} CI {_points(low)} to {_points(high)})"
    if outcome.uplift_rel is not None:
        line += f"; relative {_signed_pct(outcome.uplift_rel)}"
        if outcome.uplift_rel_ci is not None:
            low, high = outcome.uplift_rel_ci
            line += f" ({_confidence()} CI {_signed_pct(low)} to {_signed_pct(high)})"
    if outcome.p_value is not None:
        line += f'; <span class="nw">p-value {_p(outcome.p_value)}</span>'
    parts = [f'<p class="uplift" id="uplift">{line}.</p>']
    if outcome.uplift_abs_ci is not None:
        low, high = outcome.uplift_abs_ci
        verdict = ("the interval excludes 0: the campaign changed conversion"
                   if low > 0 or high < 0 else
                   "the interval includes 0: not distinguishable from no effect")
        parts.append(f'<p class="verdict" id="verdict">At {_confidence()}, {verdict}.</p>')
    return "\n".join([*parts, reason])


def _sample_ratio(outcome: Outcome) -> str:
    requested, observed = outcome.requested_control_share, outcome.observed_control_share
    if outcome.srm_ok is None or outcome.srm_p_value is None:
        why = ("no control share was requested" if not requested
               else "the campaign has no members")
        return f'<p class="reason" id="srm">Sample-ratio check not run: {why}.</p>'
    shares = (f"the control group is {_pct(observed)} of the audience, {_pct(requested)} "
              f"was requested (chi-square p-value {_p(outcome.srm_p_value)})")
    if outcome.srm_ok:
        return f'<p class="ok" id="srm">Sample ratio as requested: {shares}.</p>'
    return ('<div class="warning" role="alert" id="srm"><strong>Sample-ratio mismatch'
            f"</strong>: {shares}, below the alarm threshold of {SRM_ALPHA:g}. The groups were "
            "not drawn as asked (lost rows, or a filter applied to one group only): do not "
            "trust the uplift until the cause is known.</div>")


def _charts_section(outcome: Outcome) -> str:
    charts = (
        ("conversion-chart", conversion_chart(outcome),
         f"Conversion per group with {_confidence()} intervals"),
        ("cumulative-chart", cumulative_chart(outcome), "Cumulative conversion by day"),
    )
    figures = "".join(
        f'<figure><img id="{name}" width="480" height="288" alt="{_text(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        f"<figcaption>{_text(caption)}</figcaption></figure>"
        for name, png, caption in charts)
    return f'<section id="charts"><h2>Charts</h2>{figures}</section>'


def _figure_section(key: object, value: object) -> str:
    name = str(key)
    title = TITLES.get(name, name.replace("_", " ").capitalize())
    return (f'<section class="figures" id="figures-{_text(name)}"><h2>{_text(title)}</h2>'
            f"{_block(value)}</section>")


def _block(value: object) -> str:
    if isinstance(value, Mapping):
        if value and all(isinstance(v, Mapping) for v in value.values()):
            return _table([{"": k} | dict(v) for k, v in value.items()])
        return _table([{"name": k, "value": v} for k, v in value.items()])
    if _is_rows(value):
        return _table([dict(row) for row in value])
    return f"<p>{_value(value)}</p>"


def _is_rows(value: object) -> TypeGuard[Sequence[Mapping]]:
    return (isinstance(value, Sequence) and not isinstance(value, str | bytes)
            and all(isinstance(row, Mapping) for row in value))


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    columns = list(dict.fromkeys(column for row in rows for column in row))
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: object) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f"<td class=n>{_value(value)}</td>" if numeric else f"<td>{_value(value)}</td>"


def _value(value: object) -> str:
    """One value as escaped text for people."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return _text(", ".join(f"{k}: {v}" for k, v in value.items())
                     if isinstance(value, Mapping) else ", ".join(map(str, value)))
    return _text(str(value))


def _text(value: object) -> str:
    return html.escape(masked(str(value)), quote=True)


def _confidence() -> str:
    return f"{CONFIDENCE:.0%}"


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.2f}%"


def _signed_pct(rate: float) -> str:
    return f"{100 * rate:+.1f}%"


def _points(fraction: float) -> str:
    return f"{100 * fraction:+.2f} points"


def _interval_pct(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"{_pct(ci[0])} to {_pct(ci[1])}"


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 0.0001 else f"{p:.1e}"


def _method_note() -> str:
    return (f"A member converts with at least one “action” event in the period (and window). "
            f"Group rates: Wilson {_confidence()} intervals; uplift: Newcombe's hybrid score "
            "interval of the difference; p-value: two-proportion z-test; relative uplift: Katz "
            "log interval; sample ratio: chi-square goodness of fit against the requested "
            f"control share, alarm below p = {SRM_ALPHA:g}. Personal identifiers are masked.")
