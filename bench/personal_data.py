"""Benchmark: what personal data encryption costs on the paths that run per payment, with the
unwrapped data keys cached (a warm function) and not (a cold one), against KMS on an
AWS-compatible endpoint and against the embedded mode's key file.

A payment touches personal data in two places: `payments` finds a payee named by e-mail address
through the blind index (an HMAC, no key to unwrap), and `notify` opens both parties' names and
addresses (`people`: one query for the rows, one for the keys not cached, an AES-GCM open per
field). The bench runs those functions themselves, one thread, on SQLite, for each of:

- blind index: `BlindIndex.email` (per payment by address);
- people, warm: `people` for two users whose keys are cached (what a warm `notify` pays);
- people, cold: the same with the cache emptied first, so both keys are unwrapped (a KMS
  `Decrypt` each, or an AES-GCM open with the key file);
- sign-up keys: `create_keys` (two `GenerateDataKey`s) and sealing the address and the name.

    .venv/bin/python bench/personal_data.py [--rounds 2000] [--kms-rounds 200]

KMS runs on moto in-process (the embedded mode's endpoint): a real KMS answers in a few
milliseconds from inside the region, more than moto does, which is why the hot path must not
call it per payment.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto import mock_aws

from shared.adapters.database import create_engine, migrate
from shared.adapters.tables import users
from shared.privacy import BlindIndex, KmsKeyEncryptionKey, LocalKeyEncryptionKey, PersonalDataVault, write_local_key
from shared.services.people import people

KEY_ALIAS = "alias/paystream-personal-data"


def _timed(rounds: int, work: Callable[[], object], before: Callable[[], object] = lambda: None) -> list[float]:
    """Microseconds per call of `work`, `before` run untimed ahead of each."""
    samples = []
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"| {name} | {statistics.median(ordered):,.0f} | {p99:,.0f} |"


def _run(label: str, vault: PersonalDataVault, rounds: int, directory: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{directory / f'{label}.db'}")
    migrate(engine)
    now = datetime.now(UTC)
    index = BlindIndex(lambda: b"i" * 48)
    with engine.begin() as conn:
        for user_id, name in (("usr_payer", "Alice Liddell"), ("usr_payee", "Bob Builder")):
            vault.create_keys(conn, user_id, now=now)
            conn.execute(
                users.insert().values(
                    id=user_id,
                    email_encrypted=vault.seal(conn, user_id, "email", f"{user_id}@example.com"),
                    email_index=index.email(f"{user_id}@example.com"),
                    full_name_encrypted=vault.seal(conn, user_id, "full_name", name),
                    password_hash="-",
                    country="US",
                    created_at=now,
                )
            )
    parties = ["usr_payer", "usr_payee"]
    lines = []
    with engine.connect() as conn:
        lines.append(_row(f"{label}: blind index", _timed(rounds, lambda: index.email("Bob@Example.com"))))
        lines.append(_row(f"{label}: people, warm", _timed(rounds, lambda: people(conn, parties, privacy=vault))))
        lines.append(
            _row(
                f"{label}: people, cold (2 unwraps)",
                _timed(rounds, lambda: people(conn, parties, privacy=vault), before=vault.forget_cached),
            )
        )
    counter = iter(range(10**9))

    def sign_up_keys() -> None:
        user_id = f"usr_{next(counter)}"
        with engine.begin() as conn:
            vault.create_keys(conn, user_id, now=now)
            vault.seal(conn, user_id, "email", "someone@example.com")
            vault.seal(conn, user_id, "full_name", "Someone Else")

    lines.append(_row(f"{label}: sign-up keys and seals", _timed(rounds, sign_up_keys)))
    engine.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--kms-rounds", type=int, default=200)
    args = parser.parse_args()
    lines = ["| path | median µs | p99 µs |", "| --- | ---: | ---: |"]
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        write_local_key(directory / "kek")
        local = PersonalDataVault(LocalKeyEncryptionKey(directory / "kek"), cache_seconds=60)
        lines += _run("key file", local, args.rounds, directory)
        with mock_aws():
            kms = boto3.client("kms", region_name="us-east-1")
            key_id = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=key_id)
            remote = PersonalDataVault(KmsKeyEncryptionKey(lambda _service: kms, KEY_ALIAS), cache_seconds=60)
            lines += _run("KMS (moto)", remote, args.kms_rounds, directory)
            print(f"KMS unwraps during the KMS run: {remote.unwraps}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
