"""Pictures of an outcome: PNG bytes for Dagster markdown metadata and the HTML report.

Decisions:
- matplotlib's object API on the Agg canvas (``Figure`` + ``FigureCanvasAgg``), imported inside
  the functions: no pyplot global state, no display, and importing core stays light.
- Small on purpose: WIDTH × HEIGHT inches at DPI (480 × 288 pixels), few elements, no
  transparency; a chart is a few tens of KB at most (MAX_PNG_BYTES) since Dagster stores
  metadata with every materialization. The PNG carries no software or date stamp, so the same
  outcome draws the same bytes with the same matplotlib.
- (a) ``conversion_chart``: each group's conversion rate with its 95 % Wilson interval as error
  bars, the uplift and its interval (or the reason there is none) in the title.
  (b) ``cumulative_chart``: cumulative conversion by day per group, the campaign's end marked
  when an attribution window follows it.
- ``markdown_image`` embeds a PNG as a base64 data: URI in markdown.
"""

from __future__ import annotations

import base64
import io
import struct
from datetime import timedelta

from campaign_pipelines.core.metrics.outcomes import GROUPS, Outcome

WIDTH, HEIGHT, DPI = 6.0, 3.6, 80
MAX_PNG_BYTES = 60_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOURS = {"target": "#1f6fb2", "control": "#9a9a9a"}


def conversion_chart(outcome: Outcome) -> bytes:
    """Conversion rate per group (percent) with 95 % interval error bars."""
    figure, axes = _figure()
    rates = {"target": (outcome.target_rate, outcome.target_rate_ci, outcome.target_users),
             "control": (outcome.control_rate, outcome.control_rate_ci, outcome.control_users)}
    for position, group in enumerate(GROUPS):
        rate, ci, _ = rates[group]
        if rate is None:
            axes.bar(position, 0, color=COLOURS[group])
            axes.annotate("none", (position, 0), ha="center", va="bottom")
            continue
        low, high = ci
        axes.bar(position, 100 * rate, color=COLOURS[group],
                 yerr=[[100 * (rate - low)], [100 * (high - rate)]], capsize=6)
        axes.annotate(f"{100 * rate:.2f}%", (position, 100 * high), ha="center",
                      va="bottom", xytext=(0, 2), textcoords="offset points")
    axes.set_xticks(range(len(GROUPS)), [_tick(g, rates[g][2]) for g in GROUPS])
    axes.set_ylabel(f"converted: {outcome.action} (%)")
    axes.margins(y=0.2)
    axes.set_title(_uplift_title(outcome), fontsize=9)
    return _png(figure)


def cumulative_chart(outcome: Outcome) -> bytes:
    """Cumulative conversion (percent of the group) by day, one line per group."""
    figure, axes = _figure()
    for group in GROUPS:
        series = outcome.by_day.filter(group=group).drop_nulls("rate").sort("day")
        if series.is_empty():
            continue
        axes.plot(series["day"].to_list(), (series["rate"] * 100).to_list(),
                  color=COLOURS[group], label=group, linewidth=1.5)
    if outcome.window_days:
        axes.axvline(outcome.end + timedelta(hours=12), color="#444444", linestyle=":",
                     linewidth=1, label="campaign end")
    from matplotlib.dates import DateFormatter

    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    axes.set_ylim(bottom=0)
    axes.set_ylabel("converted so far (%)")
    axes.set_title(f"cumulative conversion: {outcome.action}", fontsize=9)
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    return _png(figure)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows ``png`` inline (Dagster's markdown metadata renders it)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from the PNG's header."""
    if png[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG: the signature is missing")
    return struct.unpack(">II", png[16:24])


def _tick(group: str, users: int) -> str:
    return f"{group}\n{users:,} users"


def _uplift_title(outcome: Outcome) -> str:
    if outcome.uplift_abs is None or outcome.uplift_abs_ci is None:
        return f"no uplift: {(outcome.reason or 'not measured').split(':')[0]}"
    low, high = outcome.uplift_abs_ci
    return (f"uplift {100 * outcome.uplift_abs:+.2f} pts "
            f"(95% CI {100 * low:+.2f} to {100 * high:+.2f})")


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
