"""Journey config shape, operators and lint (batch names both ways), registration validation,
manual files, and streak checks judged by the config version the assets recorded."""

import dagster as dg
import polars as pl
import pytest
import yaml

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.core.streaks.chains import find_cycles, registration_findings
from campaign_pipelines.core.streaks.config import (
    Campaign,
    ConfigError,
    ConfigVersionUnknown,
    config_as_built,
    parse_config,
)
from campaign_pipelines.core.streaks.eligibility import (
    batch_campaign_names,
    batch_eligibility,
)
from campaign_pipelines.core.streaks.engine import decide
from campaign_pipelines.core.streaks.lint import lint, require_valid
from campaign_pipelines.core.streaks.manual import (
    AssignmentError,
    check_streaks,
    check_users,
    parse_assignments,
)
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.resources import DuckDBWarehouseResource, JourneyConfigResource
from campaign_pipelines.defs.streaks import assets, checks
from campaign_pipelines.demo.user_activity import write_user_activity
from campaign_pipelines_tests.streaks.conftest import (
    CRED,
    EXPERIMENT,
    SNP,
    UPI,
    make_activity,
    make_state,
    requests,
    stamp,
)


def new(name="fresh_streak", id="900", next=None) -> Campaign:
    return Campaign(name=name, id=id, type="streak", banner="b", subtitle="s", next=next)


def errors(findings) -> list[str]:
    return [f"{f.field}: {f.problem} | {f.fix}" for f in findings if f.level == "error"]


def test_rules_round_trip_in_the_legacy_shape(config):
    legacy = config.to_document()["rules"][0]
    assert legacy == {"conditions": {"assign_next_streak_type": UPI},
                      "uas_attributes": [{"streak_type": "EQ", "value": "NA"}],
                      "config_key": UPI, "metadata": {"next_eligible_streak_type": UPI}}
    assert "uas_attributes" not in config.to_document()["rules"][3]  # experiment: no NA check
    assert parse_config(config.to_document(), "again") == config


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match=r"rules\.0\.config_key"):
        parse_config({"version": 1, "campaigns": [], "rules": [{"conditions": {},
                      "metadata": {}}]}, "x.yaml")


def test_default_config_lints_clean_for_the_legacy_backend(config):
    assert lint(config, "legacy") == []


def test_lint_warns_about_operators_the_target_backend_lacks(config):
    doc = config.to_document()
    doc["rules"][0]["uas_attributes"] = [{"streak_type": "IN", "value": ["NA", SNP]}]
    doc["rules"][1]["uas_attributes"] = [{"streak_type": "NEQ", "value": EXPERIMENT}]
    proposed = parse_config(doc, "p")
    legacy = [f for f in lint(proposed, "legacy") if "not supported" in f.problem]
    assert [f.problem.split(" is")[0] for f in legacy] == ["operator IN", "operator NEQ"]
    engine = lint(proposed, "campaign_pipelines")
    assert not [f for f in engine if "not supported" in f.problem]
    # NEQ 30x5 still admits the other experiments: the protection lint says which
    assert any("weekend_7x2_streak" in f.problem for f in engine)


def test_lint_flags_the_legacy_upi_rule_without_na_check(config):
    doc = config.to_document()
    del doc["rules"][0]["uas_attributes"]  # the production state of upi_25x1_streak
    found = lint(parse_config(doc, "p"), "legacy")
    assert [f.field for f in found] == [f"rules[0] ({UPI}).uas_attributes"]
    assert "experiments exposed" in found[0].problem


def test_lint_errors_on_unknown_operator_attribute_and_list_misuse(config):
    doc = config.to_document()
    doc["rules"][0]["uas_attributes"] = [{"streak_type": "GT", "value": "NA"},
                                         {"favourite_colour": "EQ", "value": "red"},
                                         {"streak_type": "EQ", "value": ["NA"]}]
    problems = errors(lint(parse_config(doc, "p"), "campaign_pipelines"))
    assert len(problems) == 3
    assert "unknown operator 'GT'" in problems[0]
    assert "unknown attribute 'favourite_colour'" in problems[1]
    assert "use IN for a list" in problems[2]


def test_neq_and_in_operators_evaluate(config):
    doc = config.to_document()
    doc["rules"][0]["uas_attributes"] = [{"streak_type": "IN", "value": ["NA", SNP]}]
    doc["rules"][1]["uas_attributes"] = [{"streak_type": "NEQ", "value": EXPERIMENT},
                                         {"next_eligible_streak_type": "NEQ", "value": "X"}]
    proposed = parse_config(doc, "p")
    state = make_state((1, SNP), (2, CRED), (3, EXPERIMENT), (4, CRED))
    decision = decide(state, requests((1, UPI, "batch"), (2, UPI, "batch"),
                                      (3, SNP, "batch"), (4, SNP, "batch")), proposed, stamp())
    actions = dict(decision.audit.select("user_id", "action").iter_rows())
    # null next_eligible is "not equal" to X, so user 4 moves
    assert actions == {1: "assigned", 2: "blocked", 3: "blocked", 4: "assigned"}


def test_chain_validation_error_lists_the_existing_campaigns(config):
    problems = errors(registration_findings(config, new(next="nope")))
    assert len(problems) == 1
    assert "next campaign 'nope' does not exist" in problems[0]
    for name in config.campaign_names():
        assert name in problems[0]


def test_na_is_accepted_as_a_chain_end(config):
    assert registration_findings(config, new(next="NA")) == []
    assert registration_findings(config, new(next=EXPERIMENT)) == []


def test_duplicate_registration_is_refused(config):
    assert "already exists" in errors(registration_findings(config, new(name=UPI)))[0]
    assert "already used by 'upi_25x1_streak'" in errors(registration_findings(
        config, new(id="101")))[0]


def test_cycle_is_refused(config):
    # A dangling pointer already in the service's config (A → fresh_streak) closes a loop
    # when fresh_streak is registered with next A.
    looped = config.model_copy(update={"campaigns": [
        c.model_copy(update={"next": "fresh_streak"}) if c.name == EXPERIMENT else c
        for c in config.campaigns]})
    problems = errors(registration_findings(looped, new(next=EXPERIMENT)))
    assert problems == [f"campaigns.{EXPERIMENT}.next: chain loops: {EXPERIMENT} → "
                        f"fresh_streak → {EXPERIMENT} | end one campaign of the loop with "
                        "\"NA\" or another campaign"]
    assert find_cycles({"A": "B", "B": "C", "C": "A", "D": "NA"}) == [["A", "B", "C"]]


def test_chain_into_a_batch_campaign_warns(config):
    found = registration_findings(config, new(next=UPI))
    assert [f.level for f in found] == ["warning"]
    assert "only fires for users on NA" in found[0].problem


def test_manual_file_parses_and_refuses_bad_rows(config):
    rows = parse_assignments(b"user_id,streak\n 1 ,30x5_streak\n2,NA\n1,30x5_streak\n", "m.csv")
    assert rows.select("user_id", "streak").rows() == [(1, EXPERIMENT), (2, "NA")]
    with pytest.raises(AssignmentError, match="header must be exactly user_id,streak"):
        parse_assignments(b"iin,streak\n1,x\n", "m.csv")
    with pytest.raises(AssignmentError, match=r"not an integer in rows \[2\]"):
        parse_assignments(b"user_id,streak\n1,x\nabc,x\n", "m.csv")
    with pytest.raises(AssignmentError, match="two different streaks"):
        parse_assignments(b"user_id,streak\n1,x\n1,y\n", "m.csv")


def test_unknown_streaks_and_users_are_refused_with_the_valid_ones(config):
    rows = parse_assignments(b"user_id,streak\n1,30x5_streak\n2,bogus\n", "m.csv")
    with pytest.raises(AssignmentError) as caught:
        check_streaks(rows, config, "m.csv")
    problem = caught.value.problems[0]
    assert "bogus" in problem["problem"] and "rows [2]" in problem["problem"]
    assert all(name in problem["fix"] for name in [*config.campaign_names(), "NA"])
    with pytest.raises(AssignmentError, match=r"1 unknown users, e\.g\. \[2\]"):
        check_users(rows, pl.Series([1, 3]), "m.csv")


def test_batch_eligibility_first_match_wins():
    activity = make_activity(
        [1, 2, 3, 4], upi_linked=[True, True, True, False], upi_txn_30d=[3, 3, 3, 3],
        active_lobs=[1, 2, 0, 0], credit_mtu=[True, False, False, False],
        snp_txn_30d=[0, 0, 0, 0])
    eligible = dict(batch_eligibility(activity).iter_rows())
    assert eligible == {1: CRED, 2: SNP, 3: UPI}


def _renamed(config, old: str, new_name: str):
    doc = config.to_document()
    for campaign in doc["campaigns"]:
        if campaign["name"] == old:
            campaign["name"] = new_name
    for rule in doc["rules"]:
        if rule["conditions"]["assign_next_streak_type"] == old:
            rule["conditions"]["assign_next_streak_type"] = new_name
            rule["config_key"] = new_name
            rule["metadata"]["next_eligible_streak_type"] = new_name
    return parse_config(doc, "service")


def test_a_batch_campaign_renamed_in_the_config_is_an_error_both_ways(config):
    renamed = _renamed(config, UPI, "upi_25x1_streak_v2")
    problems = errors(lint(renamed, "legacy"))
    assert len(problems) == 2
    # the name the batch assigns is gone from the config ...
    assert problems[0].startswith(f"campaigns.{UPI}: the daily batch assigns users to '{UPI}', "
                                  "which this config does not have")
    # ... and the config names a batch campaign the batch does not know
    assert problems[1].startswith("campaigns.upi_25x1_streak_v2.kind: batch campaign "
                                  "'upi_25x1_streak_v2' is unknown to the daily batch")
    with pytest.raises(ConfigError) as refused:
        require_valid(renamed, "legacy", "service")
    assert {p["field"] for p in refused.value.problems} == {
        f"campaigns.{UPI}", "campaigns.upi_25x1_streak_v2.kind"}


def test_a_batch_campaign_turned_experiment_is_an_error(config):
    doc = config.to_document()
    doc["campaigns"][1]["kind"] = "experiment"
    doc["rules"][1].pop("uas_attributes")
    problems = errors(lint(parse_config(doc, "p"), "legacy"))
    assert problems == [f"campaigns.{SNP}: the daily batch assigns users to '{SNP}', which this "
                        "config has as kind experiment | keep 'snp_flat_10_multilob_act_react' "
                        "as a batch campaign in the config (a rename needs a code change in "
                        "core/streaks/eligibility.py, released first)"]


def test_the_batch_names_and_the_default_config_agree(config):
    assert sorted(batch_campaign_names()) == sorted(config.batch_campaigns())
    assert require_valid(config, "legacy", "default") == []


# --- checks judge a materialization by the config it was built with ---------------------------


def test_config_as_built_is_the_recorded_version_or_a_reason():
    current = parse_config({"version": 3, "campaigns": [], "rules": []}, "now")
    assert config_as_built("x", 3, None, lambda: current) is current
    recorded = {"version": 2, "campaigns": [], "rules": []}
    assert config_as_built("x", 2, recorded, lambda: pytest.fail("not read")).version == 2
    with pytest.raises(ConfigVersionUnknown, match="built with journey config version 2; the "
                                                   "config is now version 3"):
        config_as_built("x", 2, None, lambda: current)
    with pytest.raises(ConfigVersionUnknown, match="recorded no journey config version"):
        config_as_built("x", None, None, lambda: current)


def test_streak_checks_use_the_config_version_the_assets_recorded(config, tmp_path):
    path = tmp_path / "journey.yaml"
    path.write_text(yaml.safe_dump(config.to_document(), sort_keys=False))
    write_user_activity(tmp_path / "warehouse.duckdb", users=300)
    resources = {
        "warehouse": DuckDBWarehouseResource(
            database=str(tmp_path / "warehouse.duckdb"),
            reference_config_path=str(default_config_path("duckdb"))),
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "assets")),
        "journey_config": JourneyConfigResource(path=str(path)),
    }
    daily = [assets.user_activity, assets.batch_eligibility, assets.assignments,
             assets.user_state, checks.batch_never_moves_experiment_users,
             checks.one_state_row_per_user, checks.every_streak_is_known]
    instance = dg.DagsterInstance.ephemeral()
    built = dg.materialize(daily, resources=resources, instance=instance,
                           selection=[assets.BATCH_ELIGIBILITY, assets.ASSIGNMENTS,
                                      assets.USER_STATE])
    evaluations = {e.check_name: e for e in built.get_asset_check_evaluations()}
    assert all(e.passed for e in evaluations.values())
    for name in ("batch_never_moves_experiment_users", "every_streak_is_known"):
        assert evaluations[name].metadata["config_version"].value == config.version

    # The service moves on; the checks of the earlier materializations must not use it.
    path.write_text(yaml.safe_dump({**config.to_document(), "version": config.version + 1}))
    rechecked = dg.materialize(
        daily, resources=resources, instance=instance, raise_on_error=False,
        selection=dg.AssetSelection.checks(checks.batch_never_moves_experiment_users,
                                           checks.every_streak_is_known))
    evaluations = {e.check_name: e for e in rechecked.get_asset_check_evaluations()}
    assert set(evaluations) == {"batch_never_moves_experiment_users", "every_streak_is_known"}
    for evaluation in evaluations.values():
        assert not evaluation.passed
        assert (f"streaks/assignments materialization was built with journey config version "
                f"{config.version}; the config is now version {config.version + 1}"
                in evaluation.metadata["problem"].value)
