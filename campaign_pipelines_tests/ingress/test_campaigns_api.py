"""The legacy campaigns API on the ingress: requests land in landing/campaigns, deletes in
landing/commands, reads answer 501 naming the command."""

import json

from campaign_pipelines.demo.landing_samples import SEED_EXAMPLE_RB1


def test_create_lands_the_request_under_its_campaign_key_once(ingress):
    request = {**SEED_EXAMPLE_RB1, "metadata": {**SEED_EXAMPLE_RB1["metadata"],
                                                "campaign_name": "Ingress Spring Push"}}
    first = ingress.post("/campaigns/create", request)
    assert first.status_code == 202, first.text
    assert first.json() == {"status": "accepted", "campaign_key": "ingress_spring_push"}
    landed = ingress.landing / "campaigns" / "ingress_spring_push.json"
    assert json.loads(landed.read_bytes()) == request
    assert ingress.post("/campaigns/create", request).status_code == 202  # a resend: same file
    changed = {**request, "user_iins": ["123456789012"]}
    conflict = ingress.post("/campaigns/create", changed)
    assert conflict.status_code == 409 and "still waiting" in conflict.json()["message"]
    assert json.loads(landed.read_bytes()) == request


def test_create_refuses_a_bad_request_and_writes_nothing(ingress):
    bad = {**SEED_EXAMPLE_RB1, "campaign_type": "RB9", "mau_onyl": True}
    answer = ingress.post("/campaigns/create", bad)
    assert answer.status_code == 422
    assert {p["field"] for p in answer.json()["problems"]} >= {"campaign_type", "mau_onyl"}
    assert ingress.client.post("/campaigns/create", json=SEED_EXAMPLE_RB1).status_code == 401
    assert not list((ingress.landing / "campaigns").glob("spring*"))


def test_delete_lands_a_command_and_reads_name_their_command(ingress):
    assert ingress.client.delete("/campaigns/C000000123").status_code == 401
    headers = {"Authorization": ingress.post_headers()["Authorization"]}
    answer = ingress.client.delete("/campaigns/C000000123", headers=headers)
    assert answer.status_code == 202, answer.text
    command = json.loads((ingress.landing / "commands" / answer.json()["file"]).read_bytes())
    assert (command["command"], command["campaign_code"]) == ("delete", "C000000123")
    for path, named in (("/campaigns", "campaigns list"), ("/campaigns/list", "campaigns list"),
                        ("/campaigns/C000000123", "campaigns show"),
                        ("/campaigns/next-code", "campaigns next-code")):
        read = ingress.client.get(path, headers=headers)
        assert read.status_code == 501 and named in read.json()["problems"][0]["fix"], path


def test_delete_refuses_a_code_with_a_final_newline(ingress):
    headers = {"Authorization": ingress.post_headers()["Authorization"]}
    answer = ingress.client.delete("/campaigns/C000000124%0A", headers=headers)
    assert answer.status_code == 422 and answer.json()["problems"][0]["field"] == "campaign_code"
    assert not list((ingress.landing / "commands").glob("delete-C000000124*"))
