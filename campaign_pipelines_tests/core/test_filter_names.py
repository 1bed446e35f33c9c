"""The filter names a request may use: the check admission and the run share
(core.audience.unknown_filter_names over a Vocabulary), without Dagster."""

import polars as pl

from campaign_pipelines.core.audience import unknown_filter_names
from campaign_pipelines.core.profile import VOCABULARY_SCHEMA, Vocabulary
from campaign_pipelines.core.requests import FilterConfig

VOCABULARY = Vocabulary(
    pl.DataFrame(
        {
            "dataset": ["devices", "devices", "devices", "push_preferences", "products",
                        "products"],
            "value": ["android", "iOS", "web", "Маркет", "Депозит", "Кредитная карта"],
            "bit": [0, 1, 2, 0, 0, 1],
        },
        schema=VOCABULARY_SCHEMA,
    )
)


def test_known_names_pass_in_any_case_as_the_filter_matches_them():
    filters = FilterConfig(devices=["IOS", "Android"], push_streams=["маркет"],
                           products=["депозит"], exclude_products=["КРЕДИТНАЯ КАРТА"])
    assert unknown_filter_names(filters, VOCABULARY) == []


def test_an_unknown_device_names_its_field_the_value_and_the_valid_names():
    [problem] = unknown_filter_names(FilterConfig(devices=["android", "blackberry"]), VOCABULARY)
    assert problem == {
        "field": "filter_config.devices[1]",
        "problem": "unknown name 'blackberry'",
        "fix": "use one of: android, iOS, web",
    }


def test_every_kind_is_checked_against_its_own_names():
    filters = FilterConfig(push_streams=["Спам"], products=["Депозит", "Золото"],
                           exclude_products=["iOS"])
    problems = unknown_filter_names(filters, VOCABULARY)
    assert [(p["field"], p["fix"]) for p in problems] == [
        ("filter_config.push_streams[0]", "use one of: Маркет"),
        ("filter_config.products[1]", "use one of: Депозит, Кредитная карта"),
        ("filter_config.exclude_products[0]", "use one of: Депозит, Кредитная карта"),
    ]


def test_a_kind_without_names_says_to_leave_the_filter_out():
    empty = Vocabulary(pl.DataFrame(schema=VOCABULARY_SCHEMA))
    [problem] = unknown_filter_names(FilterConfig(devices=["android"]), empty)
    assert problem["field"] == "filter_config.devices[0]"
    assert problem["fix"] == "leave it out: there is no name of this kind to filter by"
