"""The demo SMS campaign: an upload of the bank's customers' numbers
(``landing/uploads/demo-sms-clients.csv``, 24 of ``sources.client_phones`` in the spellings
branch systems use, plus a number too short and one repeated) and ``landing/sms/demo-sms.yaml``
that texts them. `campaigns demo-data` writes both, `campaigns run-pending` stores the campaign
(Scheduled), `campaigns sms run --campaign demo-sms` starts it and sends into the outbox
(``$CAMPAIGN_DATA_DIR/outbox/sms/demo-sms.jsonl``): 24 messages, 1 invalid, 1 duplicate.

The file's content never changes (its start is a fixed moment in the past, so it starts at the
first run), so running the demo again finds the campaign ``unchanged`` and texts nobody twice.
The numbers come from an upload rather than a deployed campaign's code because the demo's
campaign codes are allocated by the runs that follow demo-data.

``python -m campaign_pipelines.demo.sms`` prints the moment the demo can send: now when the
sending window (CAMPAIGN_SMS_WINDOW) is open, else its next opening, for ``sms run --now`` in
`make demo`, which may run at night.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.landing import LandingZone, write_file_atomic
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse

CAMPAIGN = "demo-sms"
UPLOAD = "demo-sms-clients.csv"
RECIPIENTS = 24
NAMES = ("Айгерим", "Нурлан", "Динара", "Ерлан", "Асель", "Данияр", "Мадина", "Тимур")
CAMPAIGN_FILE = f"""# Sample SMS campaign written by `campaigns demo-data` (demo/sms.py).
name: {CAMPAIGN}
template: "{{{{ first_name }}}}, кэшбэк 5% на покупки в декабре! {{{{ stop_hint }}}}"
sender: DemoBank
start_at: "2026-11-01T09:00:00+05:00"
prospects:
  upload: {UPLOAD}
throttle_per_second: 50
"""


def write_demo_sms(data_dir: Path, warehouse: Path) -> dict:
    """Writes the upload (from the bank in ``warehouse``) and the campaign file."""
    phones = DuckDBWarehouse(warehouse).fetch(
        f"SELECT phone FROM sources.client_phones ORDER BY iin LIMIT {RECIPIENTS}")  # noqa: S608
    names = pl.Series("first_name", NAMES).gather(
        [n % len(NAMES) for n in range(phones.height)])
    rows = pl.concat([phones.with_columns(names),
                      pl.DataFrame({"phone": ["12345"], "first_name": ["Без номера"]}),
                      phones.head(1).with_columns(names.head(1))])
    buffer = io.BytesIO()
    rows.write_csv(buffer)
    landing = LandingZone(Path(data_dir) / "landing")
    upload = landing.folder("uploads") / UPLOAD
    write_file_atomic(upload, buffer.getvalue())  # replaced, as demo-data replaces its files
    campaign = landing.write_atomic("sms", f"{CAMPAIGN}.yaml", CAMPAIGN_FILE.encode())
    return {"sms_upload": str(upload), "sms_campaign_file": str(campaign),
            "sms_recipients": phones.height}


def sending_moment(now: datetime | None = None) -> datetime:
    """Now when the sending window is open, else its next opening."""
    from campaign_pipelines.defs.settings import read_settings
    from campaign_pipelines.defs.sms.resources import sms_resource

    return sms_resource(read_settings()).quiet_hours().next_opening(now or datetime.now(UTC))


if __name__ == "__main__":
    print(sending_moment().isoformat())
