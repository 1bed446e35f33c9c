"""The signup body and unsubscribe tokens (core/sequences): no Dagster, no I/O."""

import pydantic
import pytest

from campaign_pipelines.core.sequences.signups import Signup, address_key
from campaign_pipelines.core.sequences.unsubscribe import (
    BadToken,
    address_of,
    unsubscribe_token,
)


def test_the_address_is_trimmed_and_its_domain_lowercased_and_the_legacy_name_accepted():
    signup = Signup.model_validate(
        {"email": "  Ann.Lee@Example.COM ", "first_name": " Ann ", "campaign": "christmas",
         "assessment": {"q1": [1, "two"], "notes": None}}
    )
    assert (signup.email, signup.first_name, signup.sequence) == (
        "Ann.Lee@example.com", "Ann", "christmas")
    assert signup.assessment == {"q1": [1, "two"], "notes": None}  # kept as it came
    assert address_key(signup.email) == "ann.lee@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@example.com", "red_systems": -1}, "red_systems"),
        ({"email": "a@example.com", "sequence": "Christmas Eve"}, "sequence"),
        ({"email": "a@example.com", "frist_name": "A"}, "frist_name"),
    ],
)
def test_a_bad_body_names_its_field(body, field):
    with pytest.raises(pydantic.ValidationError) as raised:
        Signup.model_validate(body)
    assert [error["loc"][0] for error in raised.value.errors()] == [field]


def test_a_token_unsubscribes_its_own_address_whatever_the_case_and_no_other():
    token = unsubscribe_token("secret", "Ann@Example.com")
    assert address_of("secret", token) == "ann@example.com"
    assert unsubscribe_token("secret", "ann@example.COM") == token
    forged = unsubscribe_token("guess", "bob@example.com")
    for bad in (forged, token + "x", "bob@example.com", ""):
        with pytest.raises(BadToken):
            address_of("secret", bad)
