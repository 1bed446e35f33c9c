"""The catalog explains every asset check: what it guarantees and what its failure means."""

from campaign_pipelines.defs.settings import read_settings
from campaign_pipelines.service import loaded_definitions


def test_every_asset_check_has_a_description(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    graph = loaded_definitions(read_settings()).resolve_asset_graph()
    specs = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    assert specs, "the code location defines no asset checks"
    undescribed = [spec.key.to_user_string() for spec in specs
                   if not (spec.description or "").strip()]
    assert undescribed == []
    # "A failure means ..." or "fails when ...": each says what a failure tells the reader.
    unexplained = [spec.key.to_user_string() for spec in specs
                   if "fail" not in spec.description.lower()]
    assert unexplained == []
