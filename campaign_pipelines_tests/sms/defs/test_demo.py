"""The demo SMS campaign that `campaigns demo-data` writes: a valid campaign file whose upload
yields every one of its recipients once, and a moment `make demo` can send at."""

from datetime import UTC, datetime

import duckdb

from campaign_pipelines.adapters.reference_config import default_config_path, load_reference_config
from campaign_pipelines.adapters.sms_prospects import ProspectSource
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.demo import sms


def test_the_demo_campaign_parses_and_texts_its_recipients_once(tmp_path, monkeypatch):
    bank = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(bank)) as connection:
        connection.execute("CREATE SCHEMA sources; CREATE TABLE sources.client_phones AS "
                           "SELECT lpad(i::VARCHAR, 12, '0') AS iin, "
                           "'8 (701) 300-' || lpad(i::VARCHAR, 4, '0') AS phone "
                           "FROM range(40) t(i)")
    written = sms.write_demo_sms(tmp_path, bank)
    assert written["sms_recipients"] == sms.RECIPIENTS
    now = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    parsed = parse_campaign((tmp_path / "landing/sms/demo-sms.yaml").read_bytes(),
                            "demo-sms.yaml", now=now, stop_hint="Отказ: STOP")
    assert parsed.campaign.name == sms.CAMPAIGN and parsed.sample.count.segments == 1
    source = ProspectSource(tmp_path / "landing/uploads", DuckDBWarehouse(bank),
                            load_reference_config(default_config_path("duckdb")))
    found = source.from_upload(sms.CAMPAIGN, sms.UPLOAD)
    assert found.counts == {"rows": 26, "valid": 24, "invalid": 1, "duplicate": 1,
                            "without_phone": 0}
    monkeypatch.setenv("CAMPAIGN_SMS_WINDOW", "09:00-21:00")
    night = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 23:00 in Almaty
    assert sms.sending_moment(night) == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    assert sms.sending_moment(now) == now
