import base64
import subprocess
import sys

import pytest

from campaign_pipelines.core.metrics.charts import (
    DPI,
    HEIGHT,
    MAX_PNG_BYTES,
    PNG_SIGNATURE,
    WIDTH,
    conversion_chart,
    cumulative_chart,
    markdown_image,
    png_size,
)
from campaign_pipelines.core.metrics.outcomes import Period, measure
from campaign_pipelines_tests.metrics.worlds import ACTION, END, START, world

PERIOD = Period(START, END, window_days=3)


@pytest.fixture(scope="module")
def outcome():
    w = world(5_000, 0.12, 0.08, 0.5)
    return measure(w.target, w.control, w.events, ACTION, PERIOD, 0.5)


@pytest.fixture(scope="module")
def without_control():
    w = world(2_000, 0.12, 0.08, 0.0)
    return measure(w.target, w.control, w.events, ACTION, PERIOD, None)


@pytest.mark.parametrize("draw", [conversion_chart, cumulative_chart])
@pytest.mark.parametrize("which", ["outcome", "without_control"])
def test_charts_are_small_pngs_of_the_agreed_size(draw, which, request):
    png = draw(request.getfixturevalue(which))
    assert png.startswith(PNG_SIGNATURE) and 0 < len(png) < MAX_PNG_BYTES
    assert png_size(png) == (round(WIDTH * DPI), round(HEIGHT * DPI))


def test_the_same_outcome_draws_the_same_bytes(outcome):
    assert conversion_chart(outcome) == conversion_chart(outcome)


def test_markdown_embeds_the_png_as_a_data_uri(outcome):
    png = conversion_chart(outcome)
    text = markdown_image(png, "conversion per group")
    assert text.startswith("![conversion per group](data:image/png;base64,")
    assert base64.b64decode(text.split(",", 1)[1].rstrip(")")) == png


def test_png_size_refuses_what_is_not_a_png():
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a")


def test_importing_core_metrics_loads_neither_scipy_nor_matplotlib():
    code = ("import sys, campaign_pipelines.core.metrics.charts, "
            "campaign_pipelines.core.metrics.rollup; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'matplotlib', 'dagster'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
