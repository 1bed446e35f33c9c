"""SMS campaign files and SMS events in, under the admission contract every landing sensor
follows (defs/arrivals.py ``answer_arrivals``, README "Admission").

``sms_campaign_arrivals_sensor`` watches landing/sms (``.yaml``, ``.yml``, ``.json``). A file
core/sms/campaign.parse_campaign refuses (an unknown field, an end before the start, a
template with an unknown variable or too long, ...) moves to rejected/ with its .error.json
naming each field, the problem and the fix; so does one whose upload is in landing/uploads
already without a phone column (an upload not there yet is no error: it must be there by
start_at, when the runner reads it). One tick's admitted files become ONE run of
``sms_campaign_admission_job`` that stores them in arrival order (defs/batched_arrivals.py).

``sms_event_arrivals_sensor`` watches landing/sms_events (``.jsonl``, the ingress's journal
files): a file none of whose lines is an SmsEvent is refused whole; a bad line in a good file
is refused by the run, which applies the others. One run of ``sms_events_job`` per tick.

Neither opens the warehouse. ``campaigns run-pending`` evaluates these very functions
(``campaign_answers``, ``event_answers``).
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.sms_prospects import upload_columns_problems
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.campaign import (
    MAX_CAMPAIGN_FILE_BYTES,
    CampaignFile,
    parse_campaign,
)
from campaign_pipelines.core.sms.events import parse_events
from campaign_pipelines.defs.arrivals import TickAnswers, answer_arrivals
from campaign_pipelines.defs.batched_arrivals import admit_by_file_tag, batch_request, take_batch
from campaign_pipelines.defs.resources import CampaignDataResource
from campaign_pipelines.defs.settings import read_settings
from campaign_pipelines.defs.sms.assets import CAMPAIGNS_KEY, EVENTS_KEY
from campaign_pipelines.defs.sms.jobs import sms_campaign_admission_job, sms_events_job
from campaign_pipelines.defs.sms.resources import SmsResource

CAMPAIGN_KIND, CAMPAIGN_SUFFIXES = "sms", (".yaml", ".yml", ".json")
EVENT_KIND, EVENT_SUFFIXES = "sms_events", (".jsonl",)
FILES_TAG = "sms/files"


def read_campaign_file(path: Path, uploads_dir: Path, sms: SmsResource,
                       now: datetime) -> CampaignFile:
    """The campaign file parsed, or refused (ProblemsError) when it cannot become a campaign:
    what core/sms/campaign refuses, or an upload already in ``uploads_dir`` without a phone
    column. The sensor's check and ``campaigns sms create`` both call it."""
    with path.open("rb") as handle:  # bounded: the parser refuses what is longer
        data = handle.read(MAX_CAMPAIGN_FILE_BYTES + 1)
    parsed = parse_campaign(data, path.name, now=now, stop_hint=sms.stop_hint,
                            max_segments=sms.max_segments)
    upload = parsed.campaign.prospects.upload
    if upload and (problems := upload_columns_problems(uploads_dir, upload)):
        raise ProblemsError(problems, path.name)
    return parsed


def campaign_file_check(campaign_data: CampaignDataResource, sms: SmsResource):
    """Refuses (ProblemsError) a campaign file that cannot become a campaign."""

    def check(path: Path) -> None:
        read_campaign_file(path, campaign_data.uploads_dir(), sms, datetime.now(UTC))

    return check


def _events_check(path: Path) -> None:
    rows, problems = parse_events(path.read_bytes())
    if problems and rows.is_empty():
        raise ProblemsError(problems[:20], path.name)


def _batched(context: dg.SensorEvaluationContext, campaign_data: CampaignDataResource,
             kind: str, suffixes: tuple[str, ...], check, key: dg.AssetKey) -> TickAnswers:
    landing = campaign_data.landing()
    answers = answer_arrivals(context, landing, kind, suffixes,
                              admit_by_file_tag(context.instance, check),
                              quiet_seconds=campaign_data.landing_quiet_s)
    files = take_batch(answers, landing)
    if files:
        answers.runs.append(batch_request(kind, files, {"ops": {
            key.to_python_identifier(): {"config": {"files": files}}}}, FILES_TAG))
    return answers


def campaign_answers(context: dg.SensorEvaluationContext, campaign_data: CampaignDataResource,
                     sms: SmsResource) -> TickAnswers:
    """One tick over landing/sms: its answers, the admitted files as at most one run."""
    return _batched(context, campaign_data, CAMPAIGN_KIND, CAMPAIGN_SUFFIXES,
                    campaign_file_check(campaign_data, sms), CAMPAIGNS_KEY)


def event_answers(context: dg.SensorEvaluationContext,
                  campaign_data: CampaignDataResource) -> TickAnswers:
    """One tick over landing/sms_events: its answers, the admitted files as at most one run."""
    return _batched(context, campaign_data, EVENT_KIND, EVENT_SUFFIXES, _events_check,
                    EVENTS_KEY)


def sms_sensors(running: bool) -> list[dg.SensorDefinition]:
    status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(name="sms_campaign_arrivals_sensor", job=sms_campaign_admission_job,
               minimum_interval_seconds=30, default_status=status,
               description="Every new .yaml, .yml or .json SMS campaign file in landing/sms: "
               "one run per tick stores them all (Scheduled); a file that is no valid "
               "campaign moves to rejected/ with its .error.json naming the field. The cursor "
               "only reports the last tick.")
    def sms_campaign_arrivals_sensor(context: dg.SensorEvaluationContext,
                                     campaign_data: CampaignDataResource,
                                     sms: SmsResource) -> dg.SensorResult:
        return campaign_answers(context, campaign_data, sms).sensor_result()

    @dg.sensor(name="sms_event_arrivals_sensor", job=sms_events_job,
               minimum_interval_seconds=30, default_status=status,
               description="Every new .jsonl file of delivery receipts and replies in "
               "landing/sms_events (the ingress's SMS webhooks write them): one run per tick "
               "applies them (ledger states, STOP and START); a file with no readable line "
               "moves to rejected/. The cursor only reports the last tick.")
    def sms_event_arrivals_sensor(context: dg.SensorEvaluationContext,
                                  campaign_data: CampaignDataResource) -> dg.SensorResult:
        return event_answers(context, campaign_data).sensor_result()

    return [sms_campaign_arrivals_sensor, sms_event_arrivals_sensor]


@dg.definitions
def sms_sensor_definitions() -> dg.Definitions:
    """SMS state lives in the DuckDB warehouse: with Oracle the sensors start stopped."""
    return dg.Definitions(sensors=sms_sensors(read_settings().ops_state_available))
