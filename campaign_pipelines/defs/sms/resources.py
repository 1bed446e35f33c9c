"""The SMS resource: the provider the settings choose, the sending hours, the message limits,
and where receipts come back; and the SMS store in the DuckDB warehouse.

``CAMPAIGN_SMS_PROVIDER=outbox`` (the embedded default) appends each message to
``$CAMPAIGN_DATA_DIR/outbox/sms/<campaign>.jsonl``; ``twilio`` posts to Twilio with
``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``, which reach the resource only through
``dg.EnvVar`` and only when Twilio is chosen. Receipts are asked for at the ingress's public
URL (``CAMPAIGN_PUBLIC_URL`` + ``/webhooks/sms/status``).
"""

from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.sms.protocol import SmsProvider
from campaign_pipelines.core.sms.quiet_hours import QuietHours, quiet_hours
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
    kpi_sync: str = "warehouse"

    def provider(self) -> SmsProvider:
        if self.kind == "twilio":
            from campaign_pipelines.adapters.sms.twilio import TwilioProvider

            return TwilioProvider(self.twilio_account_sid, self.twilio_auth_token,
                                  base_url=self.twilio_base_url)
        from campaign_pipelines.adapters.sms.outbox import SmsOutbox

        return SmsOutbox(Path(self.outbox_dir))

    def quiet_hours(self) -> QuietHours:
        return quiet_hours(self.window, self.window_zone, field="CAMPAIGN_SMS_WINDOW")

    def status_callback(self) -> str | None:
        """Where Twilio posts receipts; the outbox sends none."""
        return self.public_url.rstrip("/") + STATUS_PATH if self.kind == "twilio" else None


def sms_resource(settings: Settings) -> SmsResource:
    twilio = settings.sms_provider == "twilio"
    return SmsResource(
        kind=settings.sms_provider, outbox_dir=str(settings.data_dir / "outbox" / "sms"),
        twilio_base_url=settings.twilio_base_url, window=settings.sms_window,
        window_zone=settings.sms_window_zone, max_segments=settings.sms_max_segments,
        stop_hint=settings.sms_stop_hint, public_url=settings.public_url,
        kpi_sync=settings.sms_kpi_sync,
        **({"twilio_account_sid": dg.EnvVar("TWILIO_ACCOUNT_SID"),
            "twilio_auth_token": dg.EnvVar("TWILIO_AUTH_TOKEN")} if twilio else {}))

