"""`campaigns create` under the admission contract: a live campaign is replaced only on
purpose, also when two creates race with real processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_pipelines.cli import main
from campaign_pipelines_tests.bank import CUSTOMERS, request_text
from campaign_pipelines_tests.test_cli import _json_out, home  # noqa: F401 - fixture

ONE_IIN = [CUSTOMERS["plain"].iin]


def _request(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.long_pole(seconds=14)
def test_a_second_file_with_the_same_key_and_other_content_is_refused_then_replaced_on_purpose(
    home, tmp_path, capsys  # noqa: F811
):
    first = _request(tmp_path / "a", "promo.json", request_text())
    second = _request(tmp_path / "b", "Promo.yaml", request_text(user_iins=ONE_IIN))
    capsys.readouterr()
    assert main(["create", str(first)]) == 0
    created = _json_out(capsys)
    code = created["campaign_code"]

    assert main(["create", str(second)]) == 2
    refused = _json_out(capsys)
    assert not refused["success"]
    assert f"campaign {code} 'Spring Marketing Campaign'" in refused["errors"][0]["problem"]
    assert "--replace" in refused["errors"][0]["fix"]
    assert main(["create", str(second), "--dry-run"]) == 2  # a preview is refused alike
    capsys.readouterr()

    assert main(["create", str(first)]) == 0  # the same content again: the same version
    again = _json_out(capsys)
    assert (again["admitted_as"], again["request_version"]) == ("same", created["request_version"])

    assert main(["create", str(second), "--replace"]) == 0
    replaced = _json_out(capsys)
    assert replaced["admitted_as"] == "replace" and replaced["campaign_code"] == code
    assert replaced["filter_stats"]["initial_count"] == 1


@pytest.mark.long_pole(seconds=8)
def test_two_creates_of_different_promo_json_at_the_same_moment_give_one_campaign(
    home, data_dir, tmp_path  # noqa: F811
):
    texts = [request_text(), request_text(user_iins=ONE_IIN)]
    paths = [_request(tmp_path / str(i), "promo.json", t) for i, t in enumerate(texts)]
    env = {**os.environ}
    campaigns = str(Path(sys.executable).with_name("campaigns"))
    processes = [
        subprocess.Popen([campaigns, "create", str(p)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for p in paths
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 2], [err[-2000:] for _, err in outputs]
    bodies = [json.loads(out[out.index("{"):]) for out, _ in outputs]
    winner = next(b for b in bodies if b["success"])
    loser = next(b for b in bodies if not b["success"])
    assert "belongs to" in loser["errors"][0]["problem"]
    claim = json.loads((data_dir / "requests" / "promo" / "claim.json").read_text())
    assert claim["version"] == winner["request_version"]
