"""Typed settings, read once per process from `PAYSTREAM_*` environment variables.

A bad value stops the process at start with a message naming the variable: configuration is
input too, and it fails loudly rather than half-working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "ConfigurationError", "load_settings"]

EMBEDDED_REDIS_URL = "memory://"


class ConfigurationError(Exception):
    """The environment does not describe a platform that can run."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_", extra="ignore", frozen=True)

    environment: str = Field("local", pattern=r"^[a-z0-9-]{1,32}$")
    version: str = "0.1.0"
    database_url: str = "sqlite:///var/paystream.db"
    database_pool_size: int = Field(10, ge=1, le=100)
    # TLS toward PostgreSQL, as libpq's sslmode names it; RDS with rds.force_ssl needs one.
    database_tls: Literal["disable", "require", "verify-full"] = "disable"
    database_ca_file: str | None = None
    # "memory://" is the in-process cache of the embedded default; anything else is a Redis URL.
    redis_url: str = EMBEDDED_REDIS_URL
    # An AWS-compatible endpoint (LocalStack, moto) for every AWS service; unset: AWS itself.
    aws_endpoint_url: str | None = None
    # DynamoDB's own endpoint where it differs (the services mode: LocalStack's DynamoDB needs
    # Java downloaded at run time, so DynamoDB stays on moto); unset: `aws_endpoint_url`.
    dynamodb_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    # Signs access tokens and keys the card vault's fingerprints. No default: a platform that
    # would sign tokens with a well-known key must not start.
    secret_key: SecretStr
    access_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=3600, le=90 * 24 * 3600)
    fraud_velocity_review_above: int = Field(40, ge=1)
    fraud_velocity_decline_above: int = Field(100, ge=1)
    fraud_review_above_major: int = Field(10_000, ge=1)
    fraud_decline_above_major: int = Field(50_000, ge=1)
    topup_max_major: int = Field(10_000, ge=1)
    payment_debit_timeout_seconds: int = Field(3600, ge=60)
    # A pending payment that has not moved for this long is compensated by sweep-sagas.
    saga_stuck_seconds: int = Field(300, ge=30)
    # The FX rates file; unset: the one packaged with Paystream (shared/fx/rates.json).
    fx_rates_file: str | None = None
    # Conversions are refused when the ECB rates are older than this many days (the ECB
    # publishes on working days: 7 covers a long holiday weekend), or when the USD pegs of the
    # currencies the ECB does not quote were last reviewed longer ago than the second bound.
    fx_rates_max_age_days: int = Field(7, ge=1, le=365)
    fx_pegs_max_age_days: int = Field(366, ge=1, le=3660)
    # The platform's margin on a conversion, taken from the mid rate (50 = 0.5 %).
    fx_spread_basis_points: int = Field(50, ge=0, le=1000)
    fx_quote_ttl_seconds: int = Field(60, ge=10, le=600)
    # A withdrawal's funds stay reserved at most this long; sweep-sagas fails one that is
    # still pending after saga_stuck_seconds, which returns them sooner.
    withdrawal_reservation_timeout_seconds: int = Field(3600, ge=60)
    # relay-outbox publishes only rows at least this old: younger ones are the background
    # publisher's, and sending them from both would only add duplicates to the bus.
    outbox_relay_age_seconds: int = Field(30, ge=0, le=3600)
    # DogStatsD, under Datadog's own variable names (the agent's host is DD_AGENT_HOST in
    # knative/). No host: metrics are not sent.
    dogstatsd_host: str | None = Field(
        None, validation_alias=AliasChoices("DD_DOGSTATSD_HOST", "DD_AGENT_HOST")
    )
    dogstatsd_port: int = Field(8125, ge=1, le=65535, validation_alias="DD_DOGSTATSD_PORT")

    def aws_endpoint_for(self, service: str) -> str | None:
        """The endpoint of one AWS service (a boto3 service name), None for AWS itself."""
        if service == "dynamodb" and self.dynamodb_endpoint_url:
            return self.dynamodb_endpoint_url
        return self.aws_endpoint_url

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+pg8000://")):
            raise ValueError("must start with sqlite:/// or postgresql+pg8000://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_cache(cls, value: str) -> str:
        if value != EMBEDDED_REDIS_URL and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be memory:// or a redis:// or rediss:// URL")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


def _variable(location: tuple) -> str:
    name = "_".join(str(part) for part in location).upper()
    return name if name.startswith("DD_") else f"PAYSTREAM_{name}"


def load_settings() -> Settings:
    """Read the settings from the environment, or raise ConfigurationError naming what is wrong."""
    try:
        return Settings()  # type: ignore[call-arg]  # the values come from the environment
    except ValidationError as error:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None
