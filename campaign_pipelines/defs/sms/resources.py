"""The SMS resource: the provider the settings choose, the sending hours, the message limits,
and where receipts come back; and the SMS store in the DuckDB warehouse.

``CAMPAIGN_SMS_PROVIDER=outbox`` (the embedded default) appends each message to
``$CAMPAIGN_DATA_DIR/outbox/sms/<campaign>.jsonl``; ``twilio`` posts to Twilio with
``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``, which reach the resource only through
``dg.EnvVar`` and only when Twilio is chosen. Receipts are asked for at the ingress's public
URL (``CAMPAIGN_PUBLIC_URL`` + ``/webhooks/sms/status``).

The KPI sync (``SMS_KPI_SYNC``): with ``airtable`` the counters are also upserted to
``CAMPAIGN_AIRTABLE_BASE_ID`` / ``CAMPAIGN_AIRTABLE_TABLE`` with ``AIRTABLE_TOKEN``, which
reaches the resource through ``dg.EnvVar`` only when it is set (unset, the sync says so and
sends nothing: it must never fail the metrics step), and only when Airtable is chosen.
"""

from dataclasses import replace
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.airtable import (
    AIRTABLE_RETRY,
    PACE_S,
    RATE_LIMIT_WAIT_S,
    AirtableKpis,
    SyncMarker,
)
from campaign_pipelines.adapters.sms.protocol import SmsProvider
from campaign_pipelines.core.sms.quiet_hours import QuietHours, quiet_hours
from campaign_pipelines.defs.secrets import optional_secret
from campaign_pipelines.defs.settings import Settings

STATUS_PATH = "/webhooks/sms/status"


class SmsResource(dg.ConfigurableResource):
    kind: str = "outbox"  # outbox | twilio
    outbox_dir: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    window: str = "09:00-21:00"
    window_zone: str = "Asia/Almaty"
    max_segments: int = 3
    stop_hint: str = "Отказ: STOP"
    public_url: str = "http://127.0.0.1:8000"
    kpi_sync: str = "warehouse"  # warehouse | airtable | none
    airtable_token: str = ""
    airtable_base_id: str = ""
    airtable_table: str = "Campaigns"
    airtable_base_url: str = "https://api.airtable.com"
    kpi_sync_dir: str = ""  # where the Airtable sync keeps what it last synced
    # Airtable's pace and waits (adapters/airtable.py); tests shorten them.
    airtable_pace_s: float = PACE_S
    airtable_retry_wait_s: float = AIRTABLE_RETRY.wait_initial_s
    airtable_rate_limit_wait_s: float = RATE_LIMIT_WAIT_S

    def provider(self) -> SmsProvider:
        if self.kind == "twilio":
            from campaign_pipelines.adapters.sms.twilio import TwilioProvider

            return TwilioProvider(self.twilio_account_sid, self.twilio_auth_token,
                                  base_url=self.twilio_base_url)
        from campaign_pipelines.adapters.sms.outbox import SmsOutbox

        return SmsOutbox(Path(self.outbox_dir))

    def airtable(self) -> AirtableKpis | str:
        """The Airtable sync, or what is missing, naming the variable to set."""
        missing = [name for name, value in (
            ("AIRTABLE_TOKEN", self.airtable_token),
            ("CAMPAIGN_AIRTABLE_BASE_ID", self.airtable_base_id),
            ("CAMPAIGN_AIRTABLE_TABLE", self.airtable_table)) if not value]
        if missing:
            return (f"SMS_KPI_SYNC=airtable but {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not set: nothing was synced")
        wait = self.airtable_retry_wait_s
        return AirtableKpis(
            self.airtable_token, self.airtable_base_id, self.airtable_table,
            base_url=self.airtable_base_url, pace_s=self.airtable_pace_s,
            rate_limit_wait_s=self.airtable_rate_limit_wait_s,
            retry=replace(AIRTABLE_RETRY, wait_initial_s=wait, wait_max_s=4 * wait))

    def kpi_marker(self, kpis: AirtableKpis) -> SyncMarker:
        return SyncMarker(Path(self.kpi_sync_dir), kpis.target)

    def quiet_hours(self) -> QuietHours:
        return quiet_hours(self.window, self.window_zone, field="CAMPAIGN_SMS_WINDOW")

    def status_callback(self) -> str | None:
        """Where Twilio posts receipts; the outbox sends none."""
        return self.public_url.rstrip("/") + STATUS_PATH if self.kind == "twilio" else None


def sms_resource(settings: Settings) -> SmsResource:
    twilio = settings.sms_provider == "twilio"
    airtable = settings.sms_kpi_sync == "airtable"
    return SmsResource(
        kind=settings.sms_provider, outbox_dir=str(settings.data_dir / "outbox" / "sms"),
        twilio_base_url=settings.twilio_base_url, window=settings.sms_window,
        window_zone=settings.sms_window_zone, max_segments=settings.sms_max_segments,
        stop_hint=settings.sms_stop_hint, public_url=settings.public_url,
        kpi_sync=settings.sms_kpi_sync, airtable_base_id=settings.airtable_base_id,
        airtable_table=settings.airtable_table, airtable_base_url=settings.airtable_base_url,
        kpi_sync_dir=str(settings.data_dir / "sms_kpi_sync"),
        **({"airtable_token": optional_secret("AIRTABLE_TOKEN")} if airtable else {}),
        **({"twilio_account_sid": dg.EnvVar("TWILIO_ACCOUNT_SID"),
            "twilio_auth_token": dg.EnvVar("TWILIO_AUTH_TOKEN")} if twilio else {}))

