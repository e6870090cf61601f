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


def test_verify_full_trusts_the_named_ca_bundle_only(tmp_path):
    # GIVEN a CA bundle file holding one certificate (Python's own test CA would do; any PEM works)
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(ssl.DER_cert_to_PEM_cert(_self_signed_der()))
    # WHEN the context is built from it
    context = ssl_context_for("verify-full", str(bundle))
    # THEN that certificate is the one trust anchor, and a missing bundle stops the process
    assert context is not None and context.cert_store_stats()["x509_ca"] == 1
    with pytest.raises(FileNotFoundError):
        ssl_context_for("verify-full", str(tmp_path / "absent.pem"))


def test_the_eks_overlay_asks_for_verify_full_with_the_bundle_the_image_carries():
    from pathlib import Path

    import yaml

    from shared.deploy.eks import RDS_CA_FILE

    root = Path(__file__).resolve().parents[2]
    [config] = list(yaml.safe_load_all((root / "knative/overlays/eks/patches/config.yaml").read_text()))
    assert config["data"]["PAYSTREAM_DATABASE_TLS"] == "verify-full"
    assert config["data"]["PAYSTREAM_DATABASE_CA_FILE"] == RDS_CA_FILE
    assert f"/rds-global-bundle.pem {RDS_CA_FILE}" in (root / "Dockerfile").read_text()


def _self_signed_der() -> bytes:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test RDS CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)
