"""Send benchmark: 10,000 due e-mails (1,429 signups × 7, testing timing, all due) sent by the
sequences' sender (claim a batch → render → send with the warehouse closed → record), through:

- a provider that accepts at once: the engine's own overhead (target ≥ 1,000 e-mails/s);
- the outbox (one fsynced .eml per message, the embedded default);
- the Resend API's loopback fake, in its own process (HTTP, Idempotency-Key per message).

Prints figures; asserts nothing.  python bench/bench_send.py [--emails 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from campaign_pipelines.adapters.email.outbox import OutboxProvider
from campaign_pipelines.adapters.email.protocol import Accepted, OutgoingEmail
from campaign_pipelines.adapters.email.resend import ResendProvider
from campaign_pipelines.adapters.sequence_sender import Sender, send_due
from campaign_pipelines.adapters.sequence_store import SequenceStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.sequences.intake import parse_lines, signup_rows
from campaign_pipelines.core.sequences.loading import load_sequences
from campaign_pipelines.core.sequences.plan import enroll
from campaign_pipelines.core.sequences.render import default_folder
from campaign_pipelines.core.sequences.signups import Signup, SignupRecord

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SENDER = Sender("drip@example.com", "bench-secret", "http://127.0.0.1:8000")
API_KEY = "re_bench_key"
# The fake Resend API in a process of its own, so that it does not share the sender's GIL.
_FAKE = f"""
import sys, time
from campaign_pipelines_tests.fakes.email_api import FakeEmailApi
with FakeEmailApi({API_KEY!r}) as api:
    print(api.url, flush=True)
    sys.stdin.read()
"""


class _Accepting:
    name = "accepting"

    def send(self, email: OutgoingEmail) -> Accepted:
        return Accepted(provider_message_id=email.idempotency_key)


def _store(folder: Path, signups: int, definitions) -> SequenceStore:
    store = SequenceStore(DuckDBWarehouse(folder / "w.duckdb"), folder / "next_due.json")
    lines = "\n".join(
        SignupRecord(signup_id=f"s{n}", received_at=T0, signup=Signup(
            email=f"bench{n}@example.com", first_name="Ann", red_systems=n % 3,
            orange_systems=n % 2)).model_dump_json()
        for n in range(signups)
    )
    records, problems = parse_lines(lines.encode(), set(definitions))
    assert not problems, problems[:3]
    plan = partial(lambda new, pairs, now: enroll(new, pairs, definitions, "testing", now), now=T0)
    store.admit(signup_rows(records, "bench.jsonl", "bench.jsonl@1"), plan)
    return store


def _run(label: str, provider, signups: int, definitions) -> str:
    with tempfile.TemporaryDirectory() as folder:
        store = _store(Path(folder), signups, definitions)
        started = time.perf_counter()
        report = send_due(store, provider(Path(folder)), definitions, SENDER,
                          T0 + timedelta(minutes=7), log=lambda _: None)
        seconds = time.perf_counter() - started
    return (f"  {label:<46} {report.sent:>6,} sent in {seconds:6.2f} s  "
            f"{report.sent / seconds:7,.0f} e-mails/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=10_000)
    args = parser.parse_args()
    definitions = load_sequences(default_folder())
    signups = -(-args.emails // 7)
    fake = subprocess.Popen([sys.executable, "-c", _FAKE], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        print(f"Sending {signups * 7:,} due e-mails ({signups:,} signups × 7), batches of 250:")
        print(_run("engine only (a provider that accepts at once)", lambda _: _Accepting(),
                   signups, definitions) + "   target >= 1,000/s")
        print(_run("outbox (.eml files, fsynced)", lambda f: OutboxProvider(f / "outbox"),
                   signups, definitions))
        print(_run("Resend API fake on loopback (HTTP)",
                   lambda _: ResendProvider(API_KEY, base_url=url), signups, definitions))
    finally:
        fake.communicate(input="", timeout=30)


if __name__ == "__main__":
    main()
