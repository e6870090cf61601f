"""The privacy package alone: sealing, the key-encryption keys, the blind index and the vault's
cache of unwrapped keys (shared.privacy)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.adapters.tables import metadata
from shared.observability.logs import redact
from shared.privacy import (
    PERSONAL,
    RETENTION,
    BlindIndex,
    KeyEncryptionKeyUnavailable,
    LocalKeyEncryptionKey,
    PersonalDataError,
    PersonalDataVault,
    open_sealed,
    seal,
    write_local_key,
)

KEY = b"k" * 32


def test_a_sealed_value_opens_with_its_key_and_context_only():
    sealed = seal(KEY, "alice@example.com", context="usr_1:email")
    assert sealed.startswith("pd1:") and "alice" not in sealed
    assert open_sealed(KEY, sealed, context="usr_1:email") == "alice@example.com"
    for key, context in ((b"x" * 32, "usr_1:email"), (KEY, "usr_2:email"), (KEY, "usr_1:full_name")):
        with pytest.raises(PersonalDataError):
            open_sealed(key, sealed, context=context)


def test_sealing_the_same_value_twice_gives_two_ciphertexts():
    assert seal(KEY, "same", context="c") != seal(KEY, "same", context="c")


def test_an_altered_sealed_value_is_refused():
    sealed = seal(KEY, "Alice Liddell", context="usr_1:full_name")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(PersonalDataError):
        open_sealed(KEY, flipped, context="usr_1:full_name")


def test_the_local_key_file_wraps_and_unwraps_and_a_missing_one_says_so(tmp_path):
    write_local_key(tmp_path / "kek")
    assert oct((tmp_path / "kek").stat().st_mode & 0o777) == "0o600"
    key_encryption_key = LocalKeyEncryptionKey(tmp_path / "kek")
    key, wrapped = key_encryption_key.generate_data_key()
    assert len(key) == 32 and key_encryption_key.unwrap(wrapped) == key
    write_local_key(tmp_path / "other")
    with pytest.raises(PersonalDataError):
        LocalKeyEncryptionKey(tmp_path / "other").unwrap(wrapped)
    with pytest.raises(KeyEncryptionKeyUnavailable, match="missing"):
        LocalKeyEncryptionKey(tmp_path / "missing").generate_data_key()


def test_the_blind_index_is_the_same_for_every_spelling_of_an_address_and_keyed():
    index = BlindIndex(lambda: b"i" * 32)
    assert (
        index.email("alice@example.com") == index.email(" ALICE@Example.COM ") == index.email("ＡＬＩＣＥ@example.com")
    )
    assert index.email("alice@example.com") != index.email("bob@example.com")
    assert BlindIndex(lambda: b"j" * 32).email("alice@example.com") != index.email("alice@example.com")


class _CountingKeyEncryptionKey(LocalKeyEncryptionKey):
    unwrapped = 0

    def unwrap(self, wrapped: str) -> bytes:
        self.unwrapped += 1
        return super().unwrap(wrapped)


@pytest.fixture
def connection(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        yield conn
    engine.dispose()


def test_the_vault_unwraps_a_key_once_per_interval_and_forgets_a_destroyed_one(tmp_path, connection):
    from datetime import UTC, datetime

    write_local_key(tmp_path / "kek")
    key_encryption_key = _CountingKeyEncryptionKey(tmp_path / "kek")
    clock = [0.0]
    vault = PersonalDataVault(key_encryption_key, cache_seconds=60, clock=lambda: clock[0])
    vault.create_keys(connection, "usr_1", now=datetime.now(UTC))
    sealed = vault.seal(connection, "usr_1", "email", "a@example.com")
    vault.forget_cached()
    for _ in range(5):
        assert vault.open(connection, "usr_1", "email", sealed) == "a@example.com"
    assert key_encryption_key.unwrapped == 1
    clock[0] = 61.0
    assert vault.open(connection, "usr_1", "email", sealed) == "a@example.com"
    assert key_encryption_key.unwrapped == 2
    vault.destroy(connection, "usr_1", PERSONAL, now=datetime.now(UTC))
    assert vault.open(connection, "usr_1", "email", sealed) is None
    assert vault.key(connection, "usr_1", RETENTION) is not None


def test_log_lines_carry_no_address_gateway_token_or_sealed_value():
    line = "paid bob@example.net with tok_0123456789abcdef0123456789abcdef, stored pd1:AbC-_12=="
    redacted = redact(line)
    assert "bob@example.net" not in redacted and "tok_0123" not in redacted and "pd1:" not in redacted


def test_no_engine_puts_statement_parameters_in_an_error_or_a_log_line(tmp_path):
    from shared.adapters.database import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'quiet.db'}")
    try:
        assert engine.hide_parameters is True
    finally:
        engine.dispose()
