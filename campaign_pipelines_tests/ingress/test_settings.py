"""The ingress's own settings: read when an app is made, refused in one sentence naming the
variable."""

import pytest

from campaign_pipelines.ingress.settings import SettingError, read_ingress_settings

_VARIABLES = ("CAMPAIGN_DATA_DIR", "INGRESS_TOKEN", "INGRESS_HMAC_SECRET", "UNSUBSCRIBE_SECRET",
              "SEQUENCE_TIMING", "EMAIL_PROVIDER", "INGRESS_ROTATE_SECONDS",
              "CAMPAIGN_SEQUENCE_TIMING", "CAMPAIGN_EMAIL_PROVIDER")


@pytest.fixture
def env(monkeypatch):
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_ingress_refuses_to_start_open_to_anyone(env):
    with pytest.raises(SettingError, match="neither INGRESS_TOKEN nor INGRESS_HMAC_SECRET"):
        read_ingress_settings()


def test_a_bad_value_is_named_with_what_was_given(env):
    env.setenv("INGRESS_TOKEN", "token-value-123")
    env.setenv("SEQUENCE_TIMING", "weekly")
    env.setenv("INGRESS_ROTATE_SECONDS", "-1")
    with pytest.raises(SettingError) as refused:
        read_ingress_settings()
    assert "SEQUENCE_TIMING='weekly'" in str(refused.value)
    assert "INGRESS_ROTATE_SECONDS='-1'" in str(refused.value)


def test_choices_are_case_blind_and_the_data_folder_absolute(env, tmp_path):
    env.chdir(tmp_path)
    env.setenv("INGRESS_HMAC_SECRET", "s")
    env.setenv("SEQUENCE_TIMING", " Production ")
    env.setenv("CAMPAIGN_DATA_DIR", "data")
    settings = read_ingress_settings()
    assert settings.sequence_timing == "production"
    assert settings.landing == tmp_path / "data" / "landing"
    assert "'s'" not in repr(settings)


def test_health_reads_the_timing_and_provider_the_sequences_run_with(env):
    from campaign_pipelines.defs.settings import read_settings

    env.setenv("INGRESS_TOKEN", "token-value-123")
    assert (read_ingress_settings().sequence_timing, read_settings().sequence_timing) == (
        "production", "production")
    env.setenv("CAMPAIGN_SEQUENCE_TIMING", "Testing")
    env.setenv("CAMPAIGN_EMAIL_PROVIDER", "resend")
    ingress, location = read_ingress_settings(), read_settings()
    assert (ingress.sequence_timing, ingress.email_provider) == ("testing", "resend")
    assert (location.sequence_timing, location.email_provider) == ("testing", "resend")
