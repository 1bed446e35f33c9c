"""Sample signups for the demo: one landing/signups file as the ingress writes it (one
SignupRecord per line), covering the three segments and a repeated signup, which is recorded
as a duplicate. `campaigns demo-data` drops it; `campaigns run-pending` (or the sensor) enrols
them; `campaigns sequences status critical@example.com` shows the planned sends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.core.sequences.signups import Signup, SignupRecord

SAMPLES = [
    # email, first name, business, red, orange
    ("critical@example.com", "Aigerim", "Steppe Coffee", 2, 1),
    ("urgent@example.com", "Daniyar", "Almaty Bikes", 1, 0),
    ("struggling@example.com", "Madina", "Nomad Books", 0, 2),
    ("optimize@example.com", "Timur", "Tien Shan Tours", 0, 1),
    ("Critical@Example.com", "Aigerim", "Steppe Coffee", 3, 0),  # the same address again
]


def write_demo_signups(data_dir: Path) -> dict:
    now = datetime.now(UTC)
    lines = [SignupRecord(signup_id=str(uuid.uuid4()), received_at=now + timedelta(seconds=i),
                          signup=Signup(email=email, first_name=first, business_name=business,
                                        red_systems=red, orange_systems=orange)
                          ).model_dump_json()
             for i, (email, first, business, red, orange) in enumerate(SAMPLES)]
    name = f"demo-signups-{now:%Y%m%dT%H%M%S}.jsonl"
    path = LandingZone(data_dir / "landing").write_atomic(
        "signups", name, ("\n".join(lines) + "\n").encode())
    return {"signups_file": str(path), "signups": len(lines)}
