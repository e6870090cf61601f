"""Builds the adapters once per process (a function's cold start) from typed settings.

Every function calls `platform()`; the first call reads the settings and connects lazily, so
importing a function module never needs a database. Tests and the local runners call
`reset_platform()` after changing the environment.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from sqlalchemy import Engine

from shared.adapters import outbox
from shared.adapters.archive_store import ArchiveStore
from shared.adapters.audit_chain import AuditChain
from shared.adapters.aws import EventPublisher, Notifier, aws_client
from shared.adapters.background_publisher import BackgroundPublisher
from shared.adapters.card_gateway import SandboxGateway
from shared.adapters.database import create_engine, read_only, ssl_context_for
from shared.adapters.fx_rates import RATES_FILE_DEFAULT, RatesSource
from shared.adapters.kyc_documents import DocumentStore
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.mail_outbox import MailOutbox
from shared.domain.sign_in import BackoffPolicy
from shared.observability import configure as configure_observability
from shared.observability import watch_engine
from shared.privacy import BlindIndex, KeyEncryptionKey, KmsKeyEncryptionKey, LocalKeyEncryptionKey, PersonalDataVault
from shared.rate_limits import RateLimits
from shared.services.sign_in_backoff import SignInBackoff
from shared.settings import EMBEDDED_REDIS_URL, ConfigurationError, Settings, load_settings
from shared.signing import KeyFile, public_jwks, signing_ring_of, verification_keys_of
from shared.topology import (
    AUDIT_ARCHIVE_BUCKET,
    AUDIT_ARCHIVE_KEY_ALIAS,
    AUDIT_TABLE_NAME,
    BUS_NAME,
    KYC_DOCUMENTS_BUCKET,
    KYC_DOCUMENTS_KEY_ALIAS,
    PERSONAL_DATA_KEY_ALIAS,
)

__all__ = ["Platform", "blind_index_key_of", "build_platform", "key_encryption_key_of", "platform", "reset_platform"]

REDIS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Platform:
    """The adapters one process shares between requests. Connections open lazily, on first use."""

    settings: Settings
    engine: Engine
    # The same engine for transactions that only read (on SQLite: no write lock).
    reader: Engine
    ledger: LedgerStore
    redis: redis.Redis
    publisher: EventPublisher
    notifier: Notifier
    audit_chain: AuditChain
    gateway: SandboxGateway
    # Publishes committed outbox rows in the background, in batches.
    outbox_publisher: BackgroundPublisher
    # The FX reference rates, validated at start and reloaded when the file changes.
    fx_rates: RatesSource
    # KYC identity documents (S3, SSE-KMS); the key is looked up on first use.
    kyc_documents: DocumentStore
    # The audit chain's daily exports and the reports (S3, SSE-KMS), clients built on first use.
    archive: ArchiveStore
    # The access tokens' keys (shared.signing), read on first use and again when their files
    # change: the private ring (`users` alone has it) and the public keys (as published).
    signing_keys: KeyFile
    verification_keys: KeyFile
    # Personal data (shared.privacy): the per-user data keys, and the e-mail blind index, whose
    # key is read on first use (only the functions that look users up by address hold it).
    privacy: PersonalDataVault
    email_index: BlindIndex
    # The budgets of the route classes, and the sign-in backoff, both in the cache above (one
    # budget across every process and replica).
    rate_limits: RateLimits
    sign_in_backoff: SignInBackoff
    # A key for one purpose, derived from the secret key when asked for (a ConfigurationError
    # in a function that is not given the secret key: shared.function_secrets).
    derived_key: Callable[[str], bytes]


def build_platform(settings: Settings) -> Platform:
    """Build every adapter from the settings. The only I/O is reading the FX rates file, so that
    a broken one stops the process at start (FxRatesInvalid, a ConfigurationError)."""
    configure_observability(settings)

    def client(service: str):
        return aws_client(service, endpoint_url=settings.aws_endpoint_for(service), region=settings.aws_region)

    if settings.redis_url == EMBEDDED_REDIS_URL:
        cache = _embedded_cache()
    else:
        cache = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        ssl_context=ssl_context_for(settings.database_tls, settings.database_ca_file),
    )
    watch_engine(engine)
    publisher = EventPublisher(client("events"), BUS_NAME)
    recorded = outbox.RecordedEvents()
    recorded.watch(engine)

    def publish_committed(event_ids: Sequence[str]) -> Sequence[str]:
        return outbox.publish_recorded(engine, publisher, event_ids, recorded.take(event_ids))

    def forget_published(event_ids: Sequence[str]) -> None:
        outbox.forget(engine, event_ids)

    return Platform(
        settings=settings,
        engine=engine,
        reader=read_only(engine),
        ledger=LedgerStore(),
        redis=cache,
        rate_limits=RateLimits(cache, settings.rate_limits()),
        sign_in_backoff=SignInBackoff(
            cache,
            BackoffPolicy(
                pair_failures_free=settings.sign_in_failures_free,
                address_failures_free=settings.sign_in_address_failures_free,
                account_failures_free=settings.sign_in_account_failures_free,
                lockout_seconds_first=settings.sign_in_lockout_seconds_first,
                lockout_seconds_max=settings.sign_in_lockout_seconds_max,
            ),
        ),
        publisher=publisher,
        notifier=Notifier(
            client("sns"),
            mail_outbox=MailOutbox(settings.mail_outbox_file) if settings.mail_outbox_file else None,
        ),
        audit_chain=AuditChain(client("dynamodb"), AUDIT_TABLE_NAME),
        gateway=SandboxGateway(functools.partial(_derived_key, settings, "card-vault-fingerprint")),
        signing_keys=KeyFile(settings.signing_keys_file, "PAYSTREAM_SIGNING_KEYS_FILE", signing_ring_of),
        verification_keys=KeyFile(
            settings.verification_keys_file, "PAYSTREAM_VERIFICATION_KEYS_FILE", _verification_keys
        ),
        privacy=PersonalDataVault(
            key_encryption_key_of(settings, client), cache_seconds=settings.personal_data_key_cache_seconds
        ),
        email_index=BlindIndex(functools.partial(blind_index_key_of, settings)),
        outbox_publisher=BackgroundPublisher(publish_committed, forget_published),
        derived_key=functools.partial(_derived_key, settings),
        fx_rates=RatesSource(settings.fx_rates_file or RATES_FILE_DEFAULT),
        kyc_documents=DocumentStore(
            client,
            bucket=settings.kyc_documents_bucket or KYC_DOCUMENTS_BUCKET,
            key_id=settings.kyc_documents_kms_key_id or KYC_DOCUMENTS_KEY_ALIAS,
        ),
        archive=ArchiveStore(
            client,
            bucket=settings.audit_archive_bucket or AUDIT_ARCHIVE_BUCKET,
            key_id=settings.audit_archive_kms_key_id or AUDIT_ARCHIVE_KEY_ALIAS,
        ),
    )


def _embedded_cache() -> redis.Redis:
    """The embedded default's in-process cache. fakeredis is a local-only package (the `local`
    extra, not in the image): imported here, only when asked for."""
    try:
        import fakeredis
    except ModuleNotFoundError as error:
        if error.name != "fakeredis":
            raise
        raise ConfigurationError(
            f"PAYSTREAM_REDIS_URL: {EMBEDDED_REDIS_URL} is the embedded in-process cache, which "
            "needs fakeredis (pip install 'paystream[local]'); set a redis:// URL instead"
        ) from None
    # Lua (lupa, the `lua` extra) runs the rate limiter's scripts, as Redis itself would.
    return fakeredis.FakeRedis()


def _verification_keys(document: dict) -> tuple[dict, dict]:
    """The verification keys as (kid → (key, algorithm), the JWK Set to publish)."""
    return verification_keys_of(document), public_jwks(document)


def _derived_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose, derived from the secret key, so no two purposes share a key.

    Its uses: the card vault's fingerprints (`accounts`, which tokenizes), the sealing of
    second-factor secrets and the digests of e-mail codes and addresses (`users`, `payments`);
    a function that derives no key is not given the secret key (shared.function_secrets)."""
    if settings.secret_key is None:
        raise ConfigurationError(f"PAYSTREAM_SECRET_KEY is not set: the {purpose} key is derived from it")
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def key_encryption_key_of(settings: Settings, client) -> KeyEncryptionKey:
    """The key-encryption key of the personal data keys: the local key file where one is set
    (the embedded mode), else KMS under the configured key (the provisioned alias by default)."""
    if settings.personal_data_key_file:
        return LocalKeyEncryptionKey(settings.personal_data_key_file)
    return KmsKeyEncryptionKey(client, settings.personal_data_kms_key_id or PERSONAL_DATA_KEY_ALIAS)


def blind_index_key_of(settings: Settings) -> bytes:
    """The blind index's key. Never derived from another secret: a function that holds the
    secret key must not be able to compute the index, and the other way round."""
    if settings.personal_data_index_key is None:
        raise ConfigurationError(
            "PAYSTREAM_PERSONAL_DATA_INDEX_KEY is not set: looking a user up by e-mail address needs it"
        )
    return settings.personal_data_index_key.get_secret_value().encode()


_platform: Platform | None = None
_lock = threading.Lock()


def platform() -> Platform:
    """The process's platform, built on first use."""
    global _platform
    if _platform is None:
        with _lock:
            if _platform is None:
                _platform = build_platform(load_settings())
    return _platform


def reset_platform() -> None:
    """Forget the adapters, so that the next `platform()` reads the environment again."""
    global _platform
    with _lock:
        if _platform is not None:
            _platform.engine.dispose()
        _platform = None
