"""Every variable the platform reads is validated at start, in one place, and a command loads
only the part it uses."""

from __future__ import annotations

import importlib.metadata
import os

import pytest

from shared.cli import main
from shared.observability import observability_summary
from shared.observability.tracing import tracing_enabled
from shared.provision import main as provision_main
from shared.settings import (
    AwsSettings,
    ConfigurationError,
    FxRatesSettings,
    LocalRunSettings,
    LoggingSettings,
    ProvisionSettings,
    Settings,
    TelemetrySettings,
    load_settings,
)

SECRET_KEY = "k" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No variable of the machine's or of another test's leaks into these."""
    for name in list(os.environ):
        if name.startswith(("PAYSTREAM_", "DD_")) or name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("model", "variable", "value", "named"),
    [
        (Settings, "PAYSTREAM_LOG_LEVEL", "loud", "PAYSTREAM_LOG_LEVEL"),
        (Settings, "DD_TRACE_ENABLED", "perhaps", "DD_TRACE_ENABLED"),
        (Settings, "DD_DOGSTATSD_PORT", "eighty", "DD_DOGSTATSD_PORT"),
        (Settings, "PAYSTREAM_ENVIRONMENT", "Prod Env", "PAYSTREAM_ENVIRONMENT"),
        (LocalRunSettings, "PAYSTREAM_PORT", "http", "PAYSTREAM_PORT"),
        (LocalRunSettings, "PAYSTREAM_MODE", "service", "PAYSTREAM_MODE"),
        (AwsSettings, "PAYSTREAM_AWS_REGION", "", "PAYSTREAM_AWS_REGION"),
        (LoggingSettings, "PAYSTREAM_LOG_LEVEL", "chatty", "PAYSTREAM_LOG_LEVEL"),
        (Settings, "PAYSTREAM_RATE_LIMIT_MONEY", "lots", "PAYSTREAM_RATE_LIMIT_MONEY"),
        (Settings, "PAYSTREAM_RATE_LIMIT_CREDENTIAL", "10/minute;100/hour", "PAYSTREAM_RATE_LIMIT_CREDENTIAL"),
        (Settings, "PAYSTREAM_RATE_LIMIT_READ", "0/minute", "PAYSTREAM_RATE_LIMIT_READ"),
        # Read under either name: the message names both.
        (ProvisionSettings, "AWS_DEFAULT_REGION", "", "AWS_REGION or AWS_DEFAULT_REGION"),
    ],
)
def test_a_bad_value_is_a_configuration_error_naming_its_variable(monkeypatch, model, variable, value, named):
    # GIVEN a bad value in the environment
    monkeypatch.setenv("PAYSTREAM_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv(variable, value)
    # WHEN the settings are read THEN the error names the variable
    with pytest.raises(ConfigurationError) as raised:
        load_settings(model)
    assert str(raised.value).startswith(f"invalid configuration: {named}: ")


def test_the_log_level_is_read_in_any_case(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_LOG_LEVEL", "warning")
    assert load_settings(LoggingSettings).log_level == "WARNING"


def test_commands_that_need_no_secret_key_do_not_ask_for_one(monkeypatch):
    # GIVEN no secret key, and values that only the platform reads, wrong
    monkeypatch.setenv("PAYSTREAM_DATABASE_URL", "mysql://nowhere")
    monkeypatch.setenv("PAYSTREAM_AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    # THEN the parts dlq, provision, fx and up read load
    assert load_settings(AwsSettings).aws_endpoint_url == "http://127.0.0.1:4566"
    assert load_settings(FxRatesSettings).fx_rates_file is None
    assert load_settings(LocalRunSettings).port == 8080
    # AND the platform's settings refuse to start, naming the problem
    with pytest.raises(ConfigurationError) as raised:
        load_settings(Settings)
    assert "PAYSTREAM_DATABASE_URL: " in str(raised.value)


def test_the_secret_key_is_only_for_the_functions_that_derive_a_key_and_never_short(monkeypatch):
    # GIVEN no secret key: a function that derives no key from it starts without one
    assert load_settings(Settings).secret_key is None
    # WHEN one is given, it must be long enough
    monkeypatch.setenv("PAYSTREAM_SECRET_KEY", "short")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(Settings)
    assert "PAYSTREAM_SECRET_KEY: " in str(raised.value)


def test_an_access_token_cannot_be_set_to_live_longer_than_fifteen_minutes(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_ACCESS_TOKEN_TTL_SECONDS", "901")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(Settings)
    assert "PAYSTREAM_ACCESS_TOKEN_TTL_SECONDS: " in str(raised.value)


def test_the_version_is_the_installed_package_s(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_SECRET_KEY", SECRET_KEY)
    installed = importlib.metadata.version("paystream")
    assert load_settings().version == installed
    assert load_settings(TelemetrySettings).service_version == installed


def test_datadog_s_tags_take_precedence_over_paystream_s(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_ENVIRONMENT", "staging")
    monkeypatch.setenv("PAYSTREAM_VERSION", "1.2.3")
    assert (load_settings(TelemetrySettings).service_environment, load_settings(TelemetrySettings).service_version) == (
        "staging",
        "1.2.3",
    )
    monkeypatch.setenv("DD_ENV", "prod")
    monkeypatch.setenv("DD_VERSION", "1.2.4")
    assert (load_settings(TelemetrySettings).service_environment, load_settings(TelemetrySettings).service_version) == (
        "prod",
        "1.2.4",
    )


@pytest.mark.parametrize("enabled", [None, "true", "1", "yes", "false", "0", "no", "off", "FALSE"])
@pytest.mark.parametrize("agent", [None, ("DD_AGENT_HOST", "agent"), ("DD_TRACE_AGENT_URL", "http://127.0.0.1:8126")])
def test_a_child_s_environment_is_read_by_the_settings_rule_for_tracing(monkeypatch, enabled, agent):
    # GIVEN DD_TRACE_ENABLED and an agent, or not
    if enabled is not None:
        monkeypatch.setenv("DD_TRACE_ENABLED", enabled)
    if agent is not None:
        monkeypatch.setenv(*agent)
    # THEN a child started with this environment traces exactly when this process would
    expected = load_settings(TelemetrySettings).tracing_enabled
    assert tracing_enabled(dict(os.environ)) is expected
    assert expected is (agent is not None and enabled not in ("false", "0", "no", "off", "FALSE"))


def test_the_summary_names_where_signals_go(monkeypatch):
    monkeypatch.setenv("DD_AGENT_HOST", "agent")
    monkeypatch.setenv("DD_DOGSTATSD_PORT", "9125")
    lines = observability_summary()
    assert "traces: sent to agent" in lines
    assert "metrics: DogStatsD at agent:9125" in lines


def test_paystream_up_stops_on_a_bad_port_before_starting_anything(monkeypatch, capsys):
    monkeypatch.setenv("PAYSTREAM_PORT", "http")
    assert main(["up"]) == 2
    assert "PAYSTREAM_PORT" in capsys.readouterr().err


def test_every_command_stops_on_a_bad_log_level(monkeypatch, capsys):
    monkeypatch.setenv("PAYSTREAM_LOG_LEVEL", "loud")
    assert main(["dlq", "list"]) == 2
    assert "PAYSTREAM_LOG_LEVEL" in capsys.readouterr().err


def test_provisioning_stops_on_a_bad_region(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "")
    with pytest.raises(SystemExit, match="AWS_REGION or AWS_DEFAULT_REGION"):
        provision_main(["--endpoint-url", "http://127.0.0.1:1"])
