"""The request store: immutable versions, one claim per key, safe under concurrent admission."""

import json
import multiprocessing
from pathlib import Path

import pytest

from campaign_pipelines.adapters.admission import RequestStore, admit_file, read_request
from campaign_pipelines.core.admission import AdmissionRefused, Outcome
from campaign_pipelines.core.requests import RequestError, parse_request, request_version
from campaign_pipelines_tests.bank import request_text

V1 = parse_request(request_text())
V2 = parse_request(request_text(user_iins=["850315300100"]))


def test_a_version_is_stored_once_and_never_changed(tmp_path):
    store = RequestStore(tmp_path)
    first = store.admit("promo", V1, "promo.json")
    path = store.version_path("promo", first.version)
    written = path.stat().st_mtime_ns
    again = store.admit("promo", V1, "Promo.yaml")
    assert (first.outcome, again.outcome) == (Outcome.NEW, Outcome.SAME)
    assert again.version == first.version == request_version(V1)
    assert path.stat().st_mtime_ns == written
    assert store.load("promo") == V1


def test_a_replacement_keeps_the_earlier_version_readable(tmp_path):
    store = RequestStore(tmp_path)
    first = store.admit("promo", V1, "promo.json")
    second = store.admit("promo", V2, "promo_v2.json", replace=True)
    assert second.outcome is Outcome.REPLACE
    assert store.load("promo") == V2
    assert store.load("promo", first.version) == V1  # a queued run still builds exactly this
    history = json.loads((tmp_path / "promo" / "claim.json").read_text())["history"]
    assert [h["outcome"] for h in history] == ["new", "replace"]


def test_different_content_is_refused_and_leaves_the_claim_alone(tmp_path):
    store = RequestStore(tmp_path)
    store.admit("promo", V1, "promo.json")
    with pytest.raises(AdmissionRefused):
        store.admit("promo", V2, "Promo.yaml")
    assert store.claim("promo").version == request_version(V1)


def test_a_dry_run_stores_its_version_but_claims_nothing(tmp_path):
    store = RequestStore(tmp_path)
    preview = store.admit("promo", V1, "promo.json", dry_run=True)
    assert store.claim("promo") is None
    assert store.load("promo", preview.version) == V1


def test_the_code_recorded_for_a_key_names_it_in_a_refusal(tmp_path):
    store = RequestStore(tmp_path)
    store.admit("promo", V1, "promo.json")
    store.record_code("promo", "C000000042")
    with pytest.raises(AdmissionRefused) as refused:
        store.admit("promo", V2, "Promo.yaml")
    assert "C000000042" in refused.value.problems[0]["problem"]


def test_a_request_stored_one_file_per_key_still_holds_its_key(tmp_path):
    (tmp_path / "promo.json").write_text(V1.model_dump_json(), encoding="utf-8")
    store = RequestStore(tmp_path)
    assert store.claim("promo").version == request_version(V1)
    with pytest.raises(AdmissionRefused):
        store.admit("promo", V2, "promo.json")
    store.record_code("promo", "C000000007")  # its rebuild records the code
    assert store.claim("promo").campaign_code == "C000000007"
    replaced = store.admit("promo", V2, "promo.json", replace=True)
    assert replaced.outcome is Outcome.REPLACE and store.load("promo") == V2


def test_a_stored_request_beyond_todays_bounds_still_holds_its_key(tmp_path):
    old = json.loads(V1.model_dump_json())
    old["metadata"]["campaign_name"] = "Ж" * 250  # over today's 200 characters
    (tmp_path / "promo.json").write_text(json.dumps(old), encoding="utf-8")
    store = RequestStore(tmp_path)
    assert store.claim("promo").version.startswith("unversioned-")
    with pytest.raises(AdmissionRefused):
        store.admit("promo", V1, "promo.json")
    assert store.admit("promo", V1, "promo.json", replace=True).outcome is Outcome.REPLACE


def _admit_in_process(root: str, text: str, name: str, start, results) -> None:
    store = RequestStore(Path(root))
    start.wait()
    try:
        results.put(store.admit("promo", parse_request(text), name).outcome.value)
    except AdmissionRefused:
        results.put("refused")


def test_two_processes_admitting_different_content_at_once_give_one_owner(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    texts = [request_text(), request_text(user_iins=["850315300100"])]
    processes = [
        context.Process(target=_admit_in_process,
                        args=(str(tmp_path), text, f"promo_{i}.json", start, results))
        for i, text in enumerate(texts)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    outcomes = sorted(results.get(timeout=5) for _ in processes)
    assert outcomes == ["new", "refused"]


def test_admit_file_checks_blacklists_and_uploads(tmp_path):
    request = tmp_path / "promo.json"
    request.write_text(
        request_text(user_files=["missing.csv"], filter_config={"blacklist_tables": ["nope"]}),
        encoding="utf-8",
    )
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    with pytest.raises(RequestError) as refused:
        admit_file(request, store=RequestStore(tmp_path / "requests"),
                   blacklist_sources=["ACRM"], uploads_dir=uploads)
    fields = {p["field"] for p in refused.value.problems}
    assert fields == {"filter_config.blacklist_tables[0]", "user_files[0]"}
    assert not (tmp_path / "requests").exists()  # nothing claimed


def test_a_request_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import campaign_pipelines.adapters.admission as admission

    monkeypatch.setattr(admission, "MAX_REQUEST_BYTES", 1000)
    request = tmp_path / "huge.json"
    request.write_text(request_text(user_iins=["850315300100"] * 200), encoding="utf-8")
    with pytest.raises(RequestError) as refused:
        read_request(request)
    assert "over the 1,000" in refused.value.problems[0]["problem"]
    assert "landing/uploads" in refused.value.problems[0]["fix"]


def test_an_upload_symlinked_from_outside_uploads_is_refused_at_admission(tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("iin\n850315300100\n", encoding="utf-8")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "list.csv").symlink_to(outside)
    request = tmp_path / "promo.json"
    request.write_text(request_text(user_files=["list.csv"], filter_config={}), encoding="utf-8")
    with pytest.raises(RequestError) as refused:
        admit_file(request, store=RequestStore(tmp_path / "requests"),
                   blacklist_sources=[], uploads_dir=uploads)
    assert refused.value.problems[0]["field"] == "user_files[0]"
    assert "copy the file in" in refused.value.problems[0]["fix"]
