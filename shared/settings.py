"""Typed settings, read once per process from environment variables, validated at start.

Every variable the platform reads is declared here: Paystream's own (`PAYSTREAM_*`) and the
ones it shares with Datadog (`DD_*`) and the AWS tools (`AWS_*`), under their own names. A bad
value stops the process at start with a message naming the variable: configuration is input
too, and it fails loudly rather than half-working.

A command that needs only part of the configuration loads only that part
(`load_settings(AwsSettings)` for `paystream dlq`), so it neither demands nor validates what it
does not use; `Settings`, which the functions load, is every part together.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.routing import RateClass
from shared.rate_limits import LOCAL_RATE_LIMITS, parse_rate_limit

__all__ = [
    "AwsSettings",
    "ConfigurationError",
    "FxRatesSettings",
    "LocalRunSettings",
    "LoggingSettings",
    "ProvisionSettings",
    "Settings",
    "TelemetrySettings",
    "load_settings",
    "package_version",
]

EMBEDDED_REDIS_URL = "memory://"
# A held payment's funds stay reserved this much longer than its review may last, so that the
# sweeper declines an expired review (and voids its hold) before the ledger's own expiry would,
# and a payment approved at the last moment still has time to be settled (well beyond
# `saga_stuck_seconds`, after which a released payment that did not move is compensated).
REVIEW_HOLD_MARGIN_SECONDS = 3600


class ConfigurationError(Exception):
    """The environment does not describe a platform that can run."""


@functools.cache
def package_version() -> str:
    """The platform's version (pyproject.toml's, as installed): the default `version` tag of
    logs, traces and metrics, the image tag and the `version` label of every manifest. After
    changing it, install the project again (`pip install -e .`) so that the installed metadata
    says the same."""
    return importlib.metadata.version("paystream")


class _PaystreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_", extra="ignore", frozen=True)


class LoggingSettings(_PaystreamSettings):
    """What every process and command reads: the log level."""

    log_level: str = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.upper()
            if value not in logging.getLevelNamesMapping():
                raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value


class TelemetrySettings(LoggingSettings):
    """Where logs, traces and metrics go and the tags they carry (docs/observability.md)."""

    environment: str = Field("local", pattern=r"^[a-z0-9-]{1,32}$")
    version: str = Field(default_factory=package_version)
    # Datadog's unified service tags, where set (knative/ and the local runners set them),
    # name the process's service, environment and version in every signal.
    datadog_service: str | None = Field(None, validation_alias="DD_SERVICE")
    datadog_environment: str | None = Field(None, validation_alias="DD_ENV")
    datadog_version: str | None = Field(None, validation_alias="DD_VERSION")
    # Traces are sent only to an agent that is named, and not when DD_TRACE_ENABLED says no.
    trace_agent_url: str | None = Field(None, validation_alias="DD_TRACE_AGENT_URL")
    agent_host: str | None = Field(None, validation_alias="DD_AGENT_HOST")
    trace_enabled: bool = Field(True, validation_alias="DD_TRACE_ENABLED")
    # DogStatsD, under Datadog's own variable names (the agent's host is DD_AGENT_HOST in
    # knative/). No host: metrics are not sent.
    dogstatsd_host: str | None = Field(None, validation_alias=AliasChoices("DD_DOGSTATSD_HOST", "DD_AGENT_HOST"))
    dogstatsd_port: int = Field(8125, ge=1, le=65535, validation_alias="DD_DOGSTATSD_PORT")

    @property
    def service_environment(self) -> str:
        """The `env` tag: DD_ENV where set, else PAYSTREAM_ENVIRONMENT."""
        return self.datadog_environment or self.environment

    @property
    def service_version(self) -> str:
        """The `version` tag: DD_VERSION where set, else PAYSTREAM_VERSION (the package's)."""
        return self.datadog_version or self.version

    @property
    def trace_agent(self) -> str | None:
        """The agent traces go to: DD_TRACE_AGENT_URL, else DD_AGENT_HOST; None: no agent."""
        return self.trace_agent_url or self.agent_host

    @property
    def tracing_enabled(self) -> bool:
        """Whether spans are sent. Without an agent nothing is sent, rather than ddtrace
        retrying a connection to localhost:8126 forever."""
        return self.trace_enabled and bool(self.trace_agent)


class AwsSettings(_PaystreamSettings):
    """Where the AWS services are: what `paystream dlq` and `paystream provision` need."""

    # An AWS-compatible endpoint (LocalStack, moto) for every AWS service; unset: AWS itself.
    aws_endpoint_url: str | None = None
    # DynamoDB's own endpoint where it differs (the services mode: LocalStack's DynamoDB needs
    # Java downloaded at run time, so DynamoDB stays on moto); unset: `aws_endpoint_url`.
    dynamodb_endpoint_url: str | None = None
    aws_region: str = Field("us-east-1", min_length=1)

    def aws_endpoint_for(self, service: str) -> str | None:
        """The endpoint of one AWS service (a boto3 service name), None for AWS itself."""
        if service == "dynamodb" and self.dynamodb_endpoint_url:
            return self.dynamodb_endpoint_url
        return self.aws_endpoint_url


class FxRatesSettings(_PaystreamSettings):
    """Where the FX rates are: what `paystream fx refresh` needs."""

    # The FX rates file; unset: the one packaged with Paystream (shared/fx/rates.json).
    fx_rates_file: str | None = None


class Settings(TelemetrySettings, AwsSettings, FxRatesSettings):
    """Everything a function reads: what `platform()` builds the adapters from."""

    database_url: str = "sqlite:///var/paystream.db"
    database_pool_size: int = Field(10, ge=1, le=100)
    # TLS toward PostgreSQL, as libpq's sslmode names it; RDS with rds.force_ssl needs one.
    database_tls: Literal["disable", "require", "verify-full"] = "disable"
    database_ca_file: str | None = None
    # "memory://" is the in-process cache of the embedded default; anything else is a Redis URL.
    redis_url: str = EMBEDDED_REDIS_URL
    # The root of the keys derived for one purpose each (shared.bootstrap._derived_key: the card
    # vault's fingerprints). Only the functions that use a derived key get it (shared.secrets);
    # no default: a derived key must never be a well-known one.
    secret_key: SecretStr | None = None
    # The access tokens' key files (shared.signing): the private signing key ring, which only
    # `users` gets, and the public verification keys, which every function that authenticates
    # a caller gets. Both are read again when they change (a rotation needs no restart).
    signing_keys_file: str | None = None
    verification_keys_file: str | None = None
    # At most 15 minutes (shared.signing.ACCESS_TOKEN_SECONDS_MAX; verification caps it too).
    access_token_ttl_seconds: int = Field(900, ge=60, le=900)
    # How long a function trusts its cached copy of a user's token version and ended sessions
    # before reading them again; a change clears the cache at once, so this bounds only a
    # cache that missed the clearing (shared.services.sessions).
    token_state_cache_seconds: int = Field(5, ge=1, le=60)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=3600, le=90 * 24 * 3600)
    fraud_velocity_review_above: int = Field(40, ge=1)
    fraud_velocity_decline_above: int = Field(100, ge=1)
    # Fraud amount limits in whole US dollars, whatever the payment's currency (its amount is
    # converted with the newest FX rates the platform has, however old). These are defaults:
    # admins change them at /v1/admin/fraud-thresholds (the fraud_thresholds table).
    fraud_review_above_usd: int = Field(10_000, ge=1)
    fraud_decline_above_usd: int = Field(50_000, ge=1)
    fraud_new_account_review_above_usd: int = Field(2_000, ge=1)
    # score-fraud keeps the thresholds this long before reading the table again: an admin's
    # change applies to payments scored at most this many seconds later.
    fraud_thresholds_cache_seconds: int = Field(10, ge=0, le=300)
    topup_max_major: int = Field(10_000, ge=1)
    payment_debit_timeout_seconds: int = Field(3600, ge=60)
    # A pending payment that has not moved for this long is compensated by sweep-sagas.
    saga_stuck_seconds: int = Field(300, ge=30)
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
    # The bucket of KYC identity documents, and the KMS key (id, ARN, alias or alias ARN) their
    # objects are encrypted under (SSE-KMS). Unset: the bucket and the key alias that
    # `paystream provision` creates locally (shared.topology); on AWS, Terraform's.
    kyc_documents_bucket: str | None = Field(None, min_length=3, max_length=63)
    kyc_documents_kms_key_id: str | None = Field(None, min_length=1, max_length=2048)
    # A payment held for review waits at most this long for a reviewer; sweep-sagas then
    # declines it (`review_expired`) and the payer's funds come back.
    review_max_age_seconds: int = Field(72 * 3600, ge=60, le=30 * 24 * 3600)
    # The bucket of the audit chain's daily exports and the reports, and the KMS key (id, ARN,
    # alias or alias ARN) they are encrypted under. Unset: what `paystream provision` creates
    # locally (shared.topology); on AWS, Terraform's.
    audit_archive_bucket: str | None = Field(None, min_length=3, max_length=63)
    audit_archive_kms_key_id: str | None = Field(None, min_length=1, max_length=2048)
    # How many ended days back a scheduled archive-audit run exports (a day it missed while down
    # is caught up within this window; `paystream audit archive --date` does any other).
    audit_archive_days_back: int = Field(7, ge=1, le=366)
    # A day is exported once it ended this long ago, so that its late events are in the chain.
    audit_archive_settle_seconds: int = Field(3600, ge=0, le=24 * 3600)
    # The web wallet's origin (scheme, host and port, no path): the one origin whose pages may
    # call the API from a browser (CORS). The local gateway's own origin by default.
    web_origin: str = Field("http://localhost:8080", pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
    # Personal data (shared.privacy, docs/security.md "Data protection"). The key-encryption key
    # that wraps every user's data keys: a local key file (the embedded mode, which `paystream
    # up` creates in var/), else the KMS key named here (unset: the alias `paystream provision`
    # creates locally, shared.topology; on AWS, Terraform's).
    personal_data_key_file: str | None = None
    personal_data_kms_key_id: str | None = Field(None, min_length=1, max_length=2048)
    # The key of the e-mail addresses' blind index (HMAC-SHA256). Only the functions that look a
    # user up by address get it (shared.function_secrets); no default, and no fallback to any
    # other secret: an index key must never be a well-known one.
    personal_data_index_key: SecretStr | None = None
    # How long a process keeps a user's unwrapped data key: one KMS call per user per interval.
    # It also bounds how long another process may still read an erased user's data.
    personal_data_key_cache_seconds: int = Field(60, ge=1, le=600)
    # Records the law requires kept (KYC, for anti-money-laundering rules) stay readable this
    # many days after an account is closed, then their key is destroyed (5 years by default).
    personal_data_retention_days: int = Field(5 * 365 + 1, ge=1, le=36_500)
    # The large-transactions report lists transactions at or above this many US dollars
    # (converted at the newest reference rates the platform has).
    report_large_transaction_usd: int = Field(10_000, ge=1)
    # A payment (or paying a request) above this many US dollars (converted at the newest
    # reference rates) needs a current second-factor code from a user who has turned it on.
    mfa_payment_above_usd: int = Field(1_000, ge=0)
    # Until its address is verified, an account sends at most this many US dollars in all.
    unverified_email_send_max_usd: int = Field(100, ge=0)
    # A password reset link works once, within this long of its request.
    password_reset_ttl_seconds: int = Field(30 * 60, ge=300, le=24 * 3600)
    # An e-mail verification code works within this long of its sending; a new one may be
    # asked for at most once per `email_verification_resend_seconds`.
    email_verification_code_ttl_seconds: int = Field(3600, ge=300, le=7 * 24 * 3600)
    email_verification_resend_seconds: int = Field(60, ge=1, le=3600)
    # The local modes' mail outbox: every e-mail published to the e-mail topic is also
    # appended here, for `paystream mail` to show (nobody reads the topic locally). Unset (the
    # default, and on Kubernetes): no copy is kept.
    mail_outbox_file: str | None = None

    # The budget of each route class (schemas.routing.RateClass), in the `limits` notation
    # (`20/minute`): per user for MONEY, WRITE and READ, per client address for PUBLIC and
    # CREDENTIAL. The defaults are the local modes' (every client there is 127.0.0.1);
    # Kubernetes sets shared.rate_limits.PRODUCTION_RATE_LIMITS. See docs/security.md.
    rate_limit_money: str = LOCAL_RATE_LIMITS[RateClass.MONEY]
    rate_limit_write: str = LOCAL_RATE_LIMITS[RateClass.WRITE]
    rate_limit_read: str = LOCAL_RATE_LIMITS[RateClass.READ]
    rate_limit_public: str = LOCAL_RATE_LIMITS[RateClass.PUBLIC]
    rate_limit_credential: str = LOCAL_RATE_LIMITS[RateClass.CREDENTIAL]
    # Sign-in backoff (shared.services.sign_in_backoff), always on: after this many failed
    # password sign-ins to one account from one address, that pair is locked out; after this
    # many from one address (to any accounts), the address is; after this many to one account
    # (from any addresses), the account is, for addresses that have never signed in to it.
    sign_in_failures_free: int = Field(5, ge=1, le=100)
    sign_in_address_failures_free: int = Field(100, ge=1, le=100_000)
    sign_in_account_failures_free: int = Field(20, ge=1, le=10_000)
    # The first lockout; each failure after it doubles the lockout, up to the second bound.
    sign_in_lockout_seconds_first: int = Field(30, ge=1, le=3600)
    sign_in_lockout_seconds_max: int = Field(900, ge=1, le=24 * 3600)

    def rate_limits(self) -> dict[RateClass, str]:
        """The limit of every rate class, as set."""
        return {rate_class: getattr(self, f"rate_limit_{rate_class.value}") for rate_class in RateClass}

    @model_validator(mode="after")
    def _lockouts_ordered(self) -> Settings:
        if self.sign_in_lockout_seconds_first > self.sign_in_lockout_seconds_max:
            raise ValueError(
                "PAYSTREAM_SIGN_IN_LOCKOUT_SECONDS_FIRST must not exceed PAYSTREAM_SIGN_IN_LOCKOUT_SECONDS_MAX"
            )
        return self

    @field_validator(*(f"rate_limit_{rate_class.value}" for rate_class in RateClass))
    @classmethod
    def _one_limit(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @property
    def review_hold_timeout_seconds(self) -> int:
        """The timeout of the hold placed when a payment is held: longer than any review."""
        return self.review_max_age_seconds + REVIEW_HOLD_MARGIN_SECONDS

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

    @field_validator("secret_key", "personal_data_index_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


class LocalRunSettings(TelemetrySettings):
    """What `paystream up` reads besides the telemetry: how and where to serve. (The platform it
    starts reads `Settings`.)"""

    # PAYSTREAM_MODE=services is `paystream up --services`.
    mode: Literal["embedded", "services"] = "embedded"
    port: int = Field(8080, ge=1, le=65535)


class ProvisionSettings(BaseSettings):
    """`python -m shared.provision` (the scripts under localstack/ run it) reads the AWS tools'
    own variables, as the AWS CLI would."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    endpoint_url: str | None = Field(None, validation_alias="AWS_ENDPOINT_URL")
    region: str = Field("us-east-1", min_length=1, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))


SettingsModel = TypeVar("SettingsModel", bound=BaseSettings)


def _variable(model: type[BaseSettings], location: tuple) -> str:
    """The environment variable an error's location stands for: the field's own name under the
    model's prefix, or, for a field read under other names, those names."""
    name = str(location[0]) if location else ""
    field = model.model_fields.get(name)
    if field is not None and field.validation_alias is None:
        return f"{model.model_config.get('env_prefix', '')}{name}".upper()
    for field in model.model_fields.values():
        alias = field.validation_alias
        names = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else [str(alias)]
        if name in names:
            return " or ".join(names)
    return name.upper()


def load_settings(model: type[SettingsModel] = Settings) -> SettingsModel:  # type: ignore[assignment]
    """Read the settings (all of them, or the part `model` declares) from the environment, or
    raise ConfigurationError naming each variable that is wrong."""
    try:
        return model()  # the values come from the environment
    except ValidationError as error:
        problems = "; ".join(f"{_variable(model, e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None
