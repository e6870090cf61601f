"""Database TLS modes, as the settings name them."""

from __future__ import annotations

import ssl

import pytest

from shared.adapters.database import ssl_context_for
from shared.settings import ConfigurationError, load_settings


def test_disable_means_no_tls():
    assert ssl_context_for("disable") is None


def test_require_encrypts_without_checking_the_certificate():
    context = ssl_context_for("require")
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_verify_full_checks_the_certificate_and_the_host_name():
    context = ssl_context_for("verify-full")
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_an_unknown_mode_in_the_environment_stops_the_platform(monkeypatch):
    monkeypatch.setenv("PAYSTREAM_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("PAYSTREAM_DATABASE_TLS", "prefer")
    with pytest.raises(ConfigurationError, match="PAYSTREAM_DATABASE_TLS"):
        load_settings()
