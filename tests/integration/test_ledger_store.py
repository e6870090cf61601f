"""The SQL ledger behaves exactly like the in-memory reference ledger, on both databases.

- A differential property test replays random histories (plain, pending, post and void
  transfers, retries with the same id and changed fields, insufficient funds, wrong currencies,
  unknown accounts, reservations expiring as the clock moves) on InMemoryLedger and on
  LedgerStore, and demands the same outcome for every transfer and the same final state; a
  scripted history does the same and reaches every TransferOutcome.
- On PostgreSQL, eight processes hammer one merchant account at once, and trade with their
  neighbours in both directions: no lost update, no overdrawn wallet, no deadlock, books
  still balanced.
- On PostgreSQL a transfer is one statement, whatever its outcome.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import exc as sa_exc

from shared.adapters import database as database_module
from shared.adapters.database import create_engine, migrate
from shared.adapters.ledger_store import (
    SYSTEM_ACCOUNT_KINDS,
    WALLET_ACCOUNT_KIND,
    LedgerStore,
    system_account_id,
    wallet_account_id,
)
from shared.adapters.tables import accounts as accounts_table
from shared.domain.ledger import (
    HISTORY_PAGE_MAX,
    TRANSFER_BATCH_MAX,
    Account,
    AccountFlags,
    InMemoryLedger,
    LedgerInvariantViolated,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferFlags,
    TransferOutcome,
    account_balances,
    check_ledger_invariants,
)

pytestmark = pytest.mark.integration

LINKED = TransferFlags.LINKED

STORE = LedgerStore()
START = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def _stored_account(conn: sa.Connection, account_id: str) -> Account:
    """An account the test created: present, so its balances can be read."""
    account = STORE.get_account(conn, account_id)
    assert account is not None, account_id
    return account


def _stored_transfer(conn: sa.Connection, transfer_id: str) -> StoredTransfer:
    """A transfer the test sent: present, so its fields can be read."""
    stored = STORE.get_transfer(conn, transfer_id)
    assert stored is not None, transfer_id
    return stored


# --- The differential test ------------------------------------------------------------------

DIFFERENTIAL_EXAMPLES = 150
DIFFERENTIAL_STEPS_MIN = 5
DIFFERENTIAL_STEPS_MAX = 30
# What each wallet holds before a random history starts, so that spending can succeed.
OPENING_BALANCE_MINOR = 2_000
# Far enough ahead that every reservation with a timeout has expired.
FINAL_SWEEP_DELAY = timedelta(days=1)


@dataclass(frozen=True)
class AccountSpec:
    name: str
    currency: str
    flags: AccountFlags
    kind: str
    hot: bool


# The accounts of one example; "ghost" is never created, to exercise unknown accounts. Hot
# accounts with and without floors, and cold ones, so that a batch defers hot sides, locks hot
# accounts mid-batch for a floor, and for a transfer between two hot accounts.
FLOOR = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
ACCOUNT_SPECS = (
    AccountSpec("alice", "USD", FLOOR, WALLET_ACCOUNT_KIND, False),
    AccountSpec("bob", "USD", FLOOR, WALLET_ACCOUNT_KIND, True),
    AccountSpec("funding", "USD", AccountFlags.NONE, "funding", True),
    AccountSpec("clearing", "USD", FLOOR, "clearing", True),
    AccountSpec("payouts", "USD", AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS, "payouts", True),
    AccountSpec("carol", "EUR", FLOOR, WALLET_ACCOUNT_KIND, False),
    AccountSpec("funding-eur", "EUR", AccountFlags.NONE, "funding", True),
    AccountSpec("fx", "USD", AccountFlags.NONE, "fx", False),
    AccountSpec("fx-eur", "EUR", AccountFlags.NONE, "fx", True),
    AccountSpec("fees", "USD", AccountFlags.NONE, "fees", True),
)
GHOST_ACCOUNT = "ghost"
ACCOUNT_NAMES = tuple(spec.name for spec in ACCOUNT_SPECS) + (GHOST_ACCOUNT,)
CURRENCIES = ("USD", "EUR", "GBP")
FLAG_CHOICES = (
    TransferFlags.NONE,
    TransferFlags.PENDING,
    TransferFlags.POST_PENDING_TRANSFER,
    TransferFlags.PENDING | TransferFlags.VOID_PENDING_TRANSFER,
)
TIMEOUTS_SECONDS = (0, 5, 60)
RETRY_CHANGES = (
    "none",
    "debit_account_id",
    "credit_account_id",
    "amount_minor",
    "currency",
    "flags",
    "pending_id",
    "timeout_seconds",
)

amounts = st.one_of(st.integers(1, 500), st.sampled_from([0, -1, 1, 10_000]))
account_names = st.sampled_from(ACCOUNT_NAMES)
# Funding moves into wallets, so that later spending has something to spend.
funding_steps = st.tuples(st.just("fund"), st.sampled_from(["alice", "bob", "carol"]), st.integers(1, 2_000))
# Well-formed payments along the saga's paths: wallet to wallet, wallet to clearing, clearing
# to payouts, and back into payouts (whose credits may not exceed its debits).
spend_steps = st.tuples(
    st.just("spend"),
    st.sampled_from(
        [
            ("alice", "bob"),
            ("bob", "alice"),
            ("alice", "clearing"),
            ("clearing", "payouts"),
            ("payouts", "bob"),
            ("bob", "payouts"),
        ]
    ),
    st.integers(1, 1_500),
    st.booleans(),
    st.sampled_from(TIMEOUTS_SECONDS),
)
# Anything at all, mostly refused: unknown accounts, wrong currencies, bad flags and amounts.
transfer_steps = st.tuples(
    st.just("transfer"),
    account_names,
    account_names,
    amounts,
    st.sampled_from(CURRENCIES),
    st.sampled_from(FLAG_CHOICES),
    st.sampled_from(TIMEOUTS_SECONDS),
)
SETTLE_TWISTS = (
    "none",
    "none",
    "none",
    "debit",
    "credit",
    "currency",
    "more",
    "less",
    "timeout",
    "unreserved",
)
# Post or void an earlier reservation (reserving first if there is none), or a transfer that is
# no reservation at all ("unreserved").
settle_steps = st.tuples(
    st.just("settle"),
    st.integers(0, DIFFERENTIAL_STEPS_MAX),
    st.sampled_from(["post", "void"]),
    st.sampled_from(SETTLE_TWISTS),
)
# Send an earlier transfer again (usually an accepted one), as is or with one field changed.
retry_steps = st.tuples(
    st.just("retry"),
    st.integers(0, DIFFERENTIAL_STEPS_MAX),
    st.sampled_from(RETRY_CHANGES),
    st.booleans(),
)
# A transfer naming a pending id where none belongs, or an id that does not exist.
stray_pending_steps = st.tuples(
    st.just("stray_pending"),
    st.sampled_from([TransferFlags.NONE, TransferFlags.PENDING, TransferFlags.VOID_PENDING_TRANSFER]),
)
# A batch of member steps, each linked to the next or not; a batch may end in an open chain.
batch_steps = st.tuples(
    st.just("batch"),
    st.lists(
        st.tuples(
            st.one_of(funding_steps, spend_steps, transfer_steps, settle_steps, retry_steps),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
)
conversion_steps = st.tuples(st.just("convert"), st.integers(1, 2_500), st.integers(1, 2_500), st.integers(1, 100))
clock_steps = st.tuples(st.just("advance"), st.sampled_from([1, 4, 5, 30, 61]))
expiry_steps = st.tuples(st.just("expire"))
steps = st.lists(
    # Spending and settling are listed twice: they build the states the subtle checks need.
    st.one_of(
        funding_steps,
        spend_steps,
        spend_steps,
        transfer_steps,
        settle_steps,
        settle_steps,
        retry_steps,
        stray_pending_steps,
        batch_steps,
        batch_steps,
        conversion_steps,
        clock_steps,
        expiry_steps,
    ),
    min_size=DIFFERENTIAL_STEPS_MIN,
    max_size=DIFFERENTIAL_STEPS_MAX,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def isolated_connection(request: pytest.FixtureRequest) -> Iterator[sa.Connection]:
    """A connection to a migrated database of this test's own (the expiry sweep acts on every
    row it can see). One connection serves every example: checkouts would only add round trips."""
    if request.param == "sqlite":
        url = request.getfixturevalue("migrated_sqlite_url")
    else:
        url = request.getfixturevalue("empty_postgres_url")
        migrate(url)
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


class Replay:
    """Runs one history on both ledgers and compares them after every step."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.memory = InMemoryLedger()
        # A fresh namespace per example: earlier examples' rows stay in the database.
        self.prefix = f"x{uuid.uuid4().hex[:10]}"
        self.now = START
        self.issued: list[Transfer] = []
        self.accepted: list[Transfer] = []
        self.reservations: list[Transfer] = []
        self.counter = 0
        # While a batch step runs, the transfers its members send are collected here.
        self.batch: list[Transfer] | None = None
        with conn.begin():
            for spec in ACCOUNT_SPECS:
                account = Account(id=self.account_id(spec.name), currency=spec.currency, flags=spec.flags)
                assert self.memory.create_account(account)
                assert STORE.create_account(
                    conn,
                    account,
                    kind=spec.kind,
                    user_id=f"{self.prefix}-{spec.name}",
                    now=self.now,
                    hot=spec.hot,
                )

    def account_id(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def new_transfer_id(self) -> str:
        self.counter += 1
        return f"{self.prefix}:t{self.counter}"

    def snapshot(self) -> list[Account]:
        """This example's accounts as stored, by id."""
        with self.conn.begin():
            rows = self.conn.execute(
                sa.select(accounts_table)
                .where(accounts_table.c.id.like(f"{self.prefix}:%"))
                .order_by(accounts_table.c.id)
            )
            return [
                Account(
                    id=row.id,
                    currency=row.currency,
                    flags=AccountFlags(row.flags),
                    debits_pending=row.debits_pending,
                    debits_posted=row.debits_posted,
                    credits_pending=row.credits_pending,
                    credits_posted=row.credits_posted,
                )
                for row in rows
            ]

    def send(self, transfer: Transfer) -> TransferOutcome | None:
        if self.batch is not None:
            self.batch.append(transfer)
            return None
        before = self.snapshot()
        expected = self.memory.create_transfer(transfer, self.now)
        # Each transfer commits on its own, as in the services.
        with self.conn.begin():
            actual = STORE.create_transfer(self.conn, transfer, self.now)
        assert actual is expected, transfer
        if currently_in_test_context():
            # Shown by --hypothesis-show-statistics: which outcomes random histories reach.
            event(f"outcome {transfer.flags.name} {actual.value}")
        if actual is not TransferOutcome.OK:
            # Every refusal, an idempotent retry included, leaves the books untouched.
            assert self.snapshot() == before, transfer
        self.note(transfer, actual)
        return actual

    def note(self, transfer: Transfer, outcome: TransferOutcome) -> None:
        if outcome is TransferOutcome.OK:
            self.accepted.append(transfer)
            if transfer.flags & ~LINKED == TransferFlags.PENDING:
                self.reservations.append(transfer)
        self.issued.append(transfer)

    def send_batch(self, batch: list[Transfer]) -> list[TransferOutcome]:
        before = self.snapshot()
        expected = self.memory.create_transfers(batch, self.now)
        # One batch, one transaction, as a consumer of ten queued messages would commit it.
        with self.conn.begin():
            actual = STORE.create_transfers(self.conn, batch, self.now)
        assert actual == expected, batch
        if currently_in_test_context():
            for outcome in actual:
                event(f"batch outcome {outcome.value}")
        if TransferOutcome.OK not in actual:
            assert self.snapshot() == before, batch
        for transfer, outcome in zip(batch, actual, strict=True):
            self.note(transfer, outcome)
        return actual

    def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "fund":
            _, name, amount = step
            currency = "EUR" if name == "carol" else "USD"
            source = "funding-eur" if currency == "EUR" else "funding"
            self.send(
                Transfer(
                    self.new_transfer_id(),
                    self.account_id(source),
                    self.account_id(name),
                    amount,
                    currency,
                )
            )
        elif kind == "transfer":
            _, debit, credit, amount, currency, flags, timeout = step
            self.send(
                Transfer(
                    self.new_transfer_id(),
                    self.account_id(debit),
                    self.account_id(credit),
                    amount,
                    currency,
                    flags,
                    timeout_seconds=timeout,
                )
            )
        elif kind == "spend":
            _, (debit, credit), amount, reserve, timeout = step
            self.send(
                Transfer(
                    self.new_transfer_id(),
                    self.account_id(debit),
                    self.account_id(credit),
                    amount,
                    "USD",
                    TransferFlags.PENDING if reserve else TransferFlags.NONE,
                    timeout_seconds=timeout if reserve else 0,
                )
            )
        elif kind == "settle":
            _, index, how, twist = step
            if twist == "unreserved" and self.issued:
                candidates = self.issued
            else:
                if not self.reservations:
                    # Nothing to settle yet: reserve first, sometimes with a timeout.
                    self.run(("spend", ("alice", "clearing"), 1 + index * 7, True, 5 * (index % 2)))
                candidates = self.reservations or self.issued
            target = candidates[index % len(candidates)]
            flags = TransferFlags.POST_PENDING_TRANSFER if how == "post" else TransferFlags.VOID_PENDING_TRANSFER
            settle = Transfer(
                self.new_transfer_id(),
                target.debit_account_id,
                target.credit_account_id,
                # A post may settle less than was reserved; "less" on a void is refused.
                max(target.amount_minor - (index % 3 if how == "post" else 0), 1),
                target.currency,
                flags,
                pending_id=target.id,
            )
            self.send(_twisted(settle, twist, self.prefix))
        elif kind == "retry" and self.issued:
            _, index, change, accepted_only = step
            candidates = (self.accepted if accepted_only else None) or self.issued
            self.send(_changed(candidates[index % len(candidates)], change, self.prefix))
        elif kind == "stray_pending":
            _, flags = step
            # A void names a transfer that does not exist; the others name one that may.
            pending_id = (
                f"{self.prefix}:no-such-transfer"
                if flags == TransferFlags.VOID_PENDING_TRANSFER or not self.issued
                else self.issued[0].id
            )
            self.send(
                Transfer(
                    self.new_transfer_id(),
                    self.account_id("alice"),
                    self.account_id("clearing"),
                    1,
                    "USD",
                    flags,
                    pending_id=pending_id,
                )
            )
        elif kind == "batch":
            # Each member step adds its transfers to one batch; linked members chain them.
            _, members = step
            self.batch = []
            for member, linked in members:
                first = len(self.batch)
                self.run(member)
                if linked:
                    self.batch[first:] = [
                        replace(transfer, flags=transfer.flags | LINKED) for transfer in self.batch[first:]
                    ]
            collected, self.batch = self.batch, None
            if collected:
                self.send_batch(collected)
        elif kind == "convert":
            # Alice converts USD into Carol's EUR through the FX accounts, with a fee: one chain.
            _, usd_minor, eur_minor, fee_minor = step
            conversion = self.new_transfer_id()
            account = self.account_id
            self.send_batch(
                [
                    Transfer(
                        f"{conversion}:sell",
                        account("alice"),
                        account("fx"),
                        usd_minor,
                        "USD",
                        LINKED,
                    ),
                    Transfer(
                        f"{conversion}:buy",
                        account("fx-eur"),
                        account("carol"),
                        eur_minor,
                        "EUR",
                        LINKED,
                    ),
                    Transfer(f"{conversion}:fee", account("alice"), account("fees"), fee_minor, "USD"),
                ]
            )
        elif kind == "advance":
            self.now += timedelta(seconds=step[1])
        elif kind == "expire":
            self.expire(self.now)

    def expire(self, now: datetime) -> None:
        expected = self.memory.expire_pending_transfers(now)
        with self.conn.begin():
            actual = STORE.expire_pending_transfers(self.conn, now)
        assert sorted(actual) == sorted(expected)

    def assert_same_state(self) -> None:
        expected_accounts = sorted(self.memory.accounts(), key=lambda account: account.id)
        assert self.snapshot() == expected_accounts
        with self.conn.begin():
            for transfer in self.issued:
                stored = STORE.get_transfer(self.conn, transfer.id)
                assert stored == self.memory.transfer(transfer.id)
            # The invariants, on the whole database: every currency balances, no floor broken.
            STORE.check_invariants(self.conn)
            totals = STORE.totals_by_currency(self.conn)
            assert all(currency_totals == (0, 0) for currency_totals in totals.values())
        check_ledger_invariants(self.memory.accounts())
        # Every account's history, entry for entry (the store's sequences continue the
        # memory's, which starts from the same empty accounts).
        with self.conn.begin():
            for spec in ACCOUNT_SPECS:
                account_id = self.account_id(spec.name)
                assert STORE.account_history(
                    self.conn, account_id, limit=HISTORY_PAGE_MAX
                ) == self.memory.account_history(account_id, limit=HISTORY_PAGE_MAX)
        for account in self.snapshot():
            if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in account.flags:
                assert account.available >= 0, account


def _twisted(settle: Transfer, twist: str, prefix: str) -> Transfer:
    """A post or void with one field that disagrees with its reservation ("none": agrees)."""
    if twist == "debit":
        return replace(settle, debit_account_id=f"{prefix}:bob")
    if twist == "credit":
        return replace(settle, credit_account_id=f"{prefix}:payouts")
    if twist == "currency":
        return replace(settle, currency="EUR")
    if twist == "more":
        return replace(settle, amount_minor=settle.amount_minor + 1)
    if twist == "less":
        return replace(settle, amount_minor=max(settle.amount_minor - 1, 1))
    if twist == "timeout":
        return replace(settle, timeout_seconds=5)
    return settle


def _changed(transfer: Transfer, change: str, prefix: str) -> Transfer:
    """The same transfer id with one field changed ("none": an exact retry)."""
    if change == "debit_account_id":
        return replace(transfer, debit_account_id=f"{prefix}:bob")
    if change == "credit_account_id":
        return replace(transfer, credit_account_id=f"{prefix}:payouts")
    if change == "amount_minor":
        return replace(transfer, amount_minor=transfer.amount_minor + 1)
    if change == "currency":
        return replace(transfer, currency="EUR" if transfer.currency != "EUR" else "USD")
    if change == "flags":
        return replace(transfer, flags=transfer.flags ^ TransferFlags.PENDING)
    if change == "pending_id":
        return replace(transfer, pending_id=None if transfer.pending_id else f"{prefix}:t1")
    if change == "timeout_seconds":
        return replace(transfer, timeout_seconds=transfer.timeout_seconds + 1)
    return transfer


@settings(
    max_examples=DIFFERENTIAL_EXAMPLES,
    # The connection fixture is shared by the examples on purpose; each example has its own ids.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=steps)
def test_sql_ledger_matches_the_reference_ledger(
    isolated_connection: sa.Connection, history: list[tuple[Any, ...]]
) -> None:
    # GIVEN the same accounts in the reference ledger and in SQL, the wallets funded
    replay = Replay(isolated_connection)
    for wallet in ("alice", "bob", "carol"):
        replay.run(("fund", wallet, OPENING_BALANCE_MINOR))
    # WHEN the same history runs on both
    for step in history:
        replay.run(step)
    replay.assert_same_state()
    # THEN, once every reservation with a timeout has expired, they still agree
    replay.expire(replay.now + FINAL_SWEEP_DELAY)
    replay.assert_same_state()


def test_every_outcome_is_reached_the_same_way_on_both_ledgers(
    isolated_connection: sa.Connection,
) -> None:
    """A scripted history that reaches every TransferOutcome, so that no check of the SQL
    ledger (the PL/pgSQL function above all) is left to chance."""
    replay = Replay(isolated_connection)
    account = replay.account_id
    seen: list[TransferOutcome] = []

    def record(outcome: TransferOutcome | None) -> None:
        # Sent one at a time, never batched: every transfer has its outcome.
        assert outcome is not None
        seen.append(outcome)

    def send(debit: str, credit: str, amount: int, currency: str = "USD", **fields: Any) -> Transfer:
        transfer = Transfer(replay.new_transfer_id(), account(debit), account(credit), amount, currency, **fields)
        record(replay.send(transfer))
        return transfer

    def resend(transfer: Transfer, **fields: Any) -> None:
        record(replay.send(replace(transfer, **fields)))

    def settle(reserved: Transfer, flags: TransferFlags, **fields: Any) -> Transfer:
        transfer = Transfer(
            replay.new_transfer_id(),
            reserved.debit_account_id,
            reserved.credit_account_id,
            reserved.amount_minor,
            reserved.currency,
            flags,
            pending_id=reserved.id,
        )
        transfer = replace(transfer, **fields)
        record(replay.send(transfer))
        return transfer

    post, void = TransferFlags.POST_PENDING_TRANSFER, TransferFlags.VOID_PENDING_TRANSFER
    funded = send("funding", "alice", 1_000)
    send("funding", "bob", 1_000)
    send("funding-eur", "carol", 500, "EUR")
    # Retries: identical, then each field changed in turn.
    resend(funded)
    resend(funded, debit_account_id=account("bob"))
    resend(funded, credit_account_id=account("bob"))
    resend(funded, amount_minor=999)
    resend(funded, currency="EUR")
    resend(funded, flags=TransferFlags.PENDING)
    resend(funded, pending_id=funded.id)
    resend(funded, timeout_seconds=5)
    # The transfer on its own.
    send("alice", "bob", 1, flags=TransferFlags.PENDING | void)
    send("alice", "bob", 0)
    send("alice", "alice", 1)
    send("alice", "clearing", 1, flags=post)
    send("alice", "clearing", 1, pending_id=funded.id)
    send("alice", "clearing", 1, timeout_seconds=5)
    # Settling what cannot be settled.
    send("alice", "clearing", 1, flags=void, pending_id="no-such-transfer")
    settle(funded, post)
    reserved = send("alice", "clearing", 100, flags=TransferFlags.PENDING, timeout_seconds=5)
    settle(reserved, post, debit_account_id=account("bob"))
    settle(reserved, post, credit_account_id=account("payouts"))
    settle(reserved, post, currency="EUR")
    settle(reserved, post, amount_minor=101)
    settle(reserved, void, amount_minor=99)
    settle(reserved, post, amount_minor=60)
    settle(reserved, void)
    voided = send("alice", "clearing", 50, flags=TransferFlags.PENDING)
    settle(voided, void)
    settle(voided, post)
    expiring = send("alice", "clearing", 30, flags=TransferFlags.PENDING, timeout_seconds=5)
    replay.now += timedelta(seconds=5)
    settle(expiring, post)
    replay.expire(replay.now)
    settle(expiring, void)
    # The accounts.
    send("ghost", "alice", 1)
    send("alice", "ghost", 1)
    send("alice", "carol", 1)
    send("alice", "bob", 1, "GBP")
    send("alice", "bob", 10_000)
    send("bob", "payouts", 10)
    # The floor, exactly: one minor unit more than is available, then all of it.
    alice = replay.memory.account(account("alice"))
    assert alice is not None
    available = alice.available
    send("alice", "bob", available + 1)
    send("alice", "bob", available)
    alice = replay.memory.account(account("alice"))
    assert alice is not None
    assert alice.available == 0
    # Chains: Bob pays Alice back more than he has, so the leg before it fails with it; a batch
    # that ends inside a chain leaves it open.
    seen.extend(
        replay.send_batch(
            [
                Transfer(replay.new_transfer_id(), account("funding"), account("bob"), 5, "USD", LINKED),
                Transfer(replay.new_transfer_id(), account("bob"), account("alice"), 10**6, "USD"),
            ]
        )
    )
    seen.extend(
        replay.send_batch([Transfer(replay.new_transfer_id(), account("funding"), account("bob"), 5, "USD", LINKED)])
    )

    assert set(seen) == set(TransferOutcome)
    replay.assert_same_state()


# --- Accounts -------------------------------------------------------------------------------


def test_ensure_wallet_creates_once_and_lists_by_currency(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    user_id = f"usr_{uuid.uuid4().hex}"
    try:
        # GIVEN a user without wallets
        with engine.begin() as conn:
            assert STORE.wallets_of(conn, user_id) == []
        # WHEN wallets are ensured, twice for USD
        with engine.begin() as conn:
            usd = STORE.ensure_wallet(conn, user_id, "USD", START)
            eur = STORE.ensure_wallet(conn, user_id, "EUR", START)
            again = STORE.ensure_wallet(conn, user_id, "USD", START)
        # THEN each currency has one empty, never-overdrawable wallet
        assert again == usd
        assert usd.id == wallet_account_id(user_id, "USD")
        assert usd.flags == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        assert (usd.available, usd.balance_posted) == (0, 0)
        with engine.connect() as conn:
            assert STORE.wallets_of(conn, user_id) == [eur, usd]
    finally:
        engine.dispose()


def test_system_accounts_exist_once_with_their_floors(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    currency = "JPY"
    try:
        with engine.begin() as conn:
            first = STORE.ensure_system_accounts(conn, currency, START)
        with engine.begin() as conn:
            second = STORE.ensure_system_accounts(conn, currency, START)
        assert first == second
        assert tuple(first) == SYSTEM_ACCOUNT_KINDS
        assert first["clearing"].flags == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        assert first["funding"].flags == AccountFlags.NONE
        assert first["fees"].id == system_account_id(currency, "fees")
        with engine.connect() as conn:
            # An existing id is not created again.
            assert not STORE.create_account(conn, first["fx"], kind="fx", user_id=None, now=START)
            # Every payment, top-up and conversion touches them: they are hot (locked last).
            hot: Sequence[bool] = (
                conn.execute(
                    sa.select(accounts_table.c.hot).where(
                        accounts_table.c.id.in_([account.id for account in first.values()])
                    )
                )
                .scalars()
                .all()
            )
            assert hot == [True] * len(SYSTEM_ACCOUNT_KINDS)
    finally:
        engine.dispose()


def test_a_broken_floor_after_an_ok_decision_is_an_exception(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    user_id = f"usr_{uuid.uuid4().hex}"
    try:
        with engine.connect() as conn:
            # GIVEN a wallet whose row was corrupted behind the ledger's back
            wallet = STORE.ensure_wallet(conn, user_id, "USD", START)
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            conn.execute(sa.update(accounts_table).where(accounts_table.c.id == wallet.id).values(debits_pending=-5))
            # WHEN money is credited to it (decide() does not look at the credited floor)
            # THEN the write is refused as a bug, not answered as an outcome
            with pytest.raises(LedgerInvariantViolated):
                STORE.create_transfer(
                    conn,
                    Transfer(f"{user_id}:fund", funding.id, wallet.id, 100, "USD"),
                    START,
                )
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.parametrize("statement", ["DELETE FROM accounts WHERE id = :id", "TRUNCATE accounts CASCADE"])
def test_postgresql_refuses_to_delete_a_ledger_account(migrated_postgres_url: str, statement: str) -> None:
    # GIVEN a wallet with a transfer that names it (no foreign key guards it: the ledger checks)
    engine = create_engine(migrated_postgres_url, pool_size=1)
    user_id = f"usr_{uuid.uuid4().hex}"
    try:
        with engine.begin() as conn:
            wallet = STORE.ensure_wallet(conn, user_id, "USD", START)
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            fund = Transfer(f"{user_id}:fund", funding.id, wallet.id, 100, "USD")
            assert STORE.create_transfer(conn, fund, START) is TransferOutcome.OK
        # WHEN the account is deleted, or the table truncated
        # THEN PostgreSQL refuses, and the account is still there
        with pytest.raises(sa.exc.DatabaseError, match="ledger accounts are permanent"), engine.begin() as conn:
            conn.execute(sa.text(statement), {"id": wallet.id})
        with engine.connect() as conn:
            assert (
                conn.execute(sa.select(accounts_table.c.id).where(accounts_table.c.id == wallet.id)).scalar_one()
                == wallet.id
            )
            # AND a transfer that names no account is an outcome, not a dangling row
            ghost = Transfer(f"{user_id}:ghost", funding.id, "wallet:nobody:USD", 1, "USD")
            assert STORE.create_transfer(conn, ghost, START) is TransferOutcome.CREDIT_ACCOUNT_NOT_FOUND
            conn.rollback()
    finally:
        engine.dispose()


# --- One round trip on PostgreSQL --------------------------------------------------------------


def _count_round_trips(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every exchange with the server on the engine's pg8000 connections.

    pg8000 speaks to the server in four ways: a simple query, preparing a named statement and
    running one take one round trip each, an unnamed (parametrised) statement three. Every
    statement with parameters runs as a named one, with BEGIN in the same write when it opens
    the transaction: one round trip. The list gets one item per round trip, named by the way.
    """
    round_trips: list[str] = []
    original_bind_and_execute = database_module._bind_and_execute

    def bind_and_execute(dbapi_connection: Any, *args: Any) -> Any:
        kind = "execute_named" if dbapi_connection._in_transaction else "begin_and_execute_named"
        round_trips.append(f"{kind}: {args[-1]}")
        return original_bind_and_execute(dbapi_connection, *args)

    monkeypatch.setattr(database_module, "_bind_and_execute", bind_and_execute)

    @sa.event.listens_for(engine, "connect")
    def wrap(dbapi_connection: Any, _record: Any) -> None:
        for method, cost in (
            ("execute_simple", 1),
            ("prepare_statement", 1),
            ("execute_unnamed", 3),
        ):
            original = getattr(dbapi_connection, method)

            def counted(
                *args: Any, _original: Any = original, _method: str = method, _cost: int = cost, **kwargs: Any
            ) -> Any:
                round_trips.extend([f"{_method}: {args[0]}"] * _cost)
                return _original(*args, **kwargs)

            setattr(dbapi_connection, method, counted)

    return round_trips


BEGIN_CALL_COMMIT = ["begin_and_execute_named", "execute_simple"]


def _kinds_of(round_trips: list[str]) -> list[str]:
    """The methods of the round trips, leaving out preparing (once per session)."""
    return [trip.split(":")[0] for trip in round_trips if not trip.startswith("prepare_statement")]


def test_a_transfer_is_one_round_trip_on_postgresql(
    migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(migrated_postgres_url, pool_size=1)
    round_trips = _count_round_trips(engine, monkeypatch)

    payer, payee = f"usr_{uuid.uuid4().hex}", f"usr_{uuid.uuid4().hex}"
    try:
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            payer_wallet = STORE.ensure_wallet(conn, payer, "USD", START)
            payee_wallet = STORE.ensure_wallet(conn, payee, "USD", START)
        attempts = [
            Transfer(f"{payer}:fund", funding.id, payer_wallet.id, 1_000, "USD"),
            Transfer(f"{payer}:fund", funding.id, payer_wallet.id, 1_000, "USD"),
            Transfer(
                f"{payer}:hold",
                payer_wallet.id,
                payee_wallet.id,
                400,
                "USD",
                TransferFlags.PENDING,
                timeout_seconds=60,
            ),
            Transfer(
                f"{payer}:post",
                payer_wallet.id,
                payee_wallet.id,
                300,
                "USD",
                TransferFlags.POST_PENDING_TRANSFER,
                pending_id=f"{payer}:hold",
            ),
            Transfer(f"{payer}:big", payer_wallet.id, payee_wallet.id, 10_000, "USD"),
        ]
        outcomes, shapes = [], []
        with engine.connect() as conn:
            for transfer in attempts:
                round_trips.clear()
                with conn.begin():
                    outcomes.append(STORE.create_transfer(conn, transfer, START))
                shapes.append(_kinds_of(round_trips))
        # The transfer is one prepared statement (prepared once per session) sent with BEGIN,
        # then COMMIT.
        assert shapes == [BEGIN_CALL_COMMIT] * len(attempts), shapes
        assert outcomes == [
            TransferOutcome.OK,
            TransferOutcome.EXISTS,
            TransferOutcome.OK,
            TransferOutcome.OK,
            TransferOutcome.INSUFFICIENT_FUNDS,
        ]
        with engine.connect() as conn:
            assert _stored_account(conn, payee_wallet.id).balance_posted == 300
            held = STORE.get_transfer(conn, f"{payer}:hold")
            assert held is not None and held.pending_status is PendingStatus.POSTED
    finally:
        engine.dispose()


def test_a_batch_is_one_round_trip_on_postgresql(migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(migrated_postgres_url, pool_size=1)
    round_trips = _count_round_trips(engine, monkeypatch)

    user = f"usr_{uuid.uuid4().hex}"
    try:
        # GIVEN a funded wallet
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            wallet = STORE.ensure_wallet(conn, user, "USD", START)
        # WHEN ten transfers, a chain among them, are sent as one batch
        batch = [
            Transfer(f"{user}:{index}", funding.id, wallet.id, 10, "USD", LINKED if index else TransferFlags.NONE)
            for index in range(9)
        ] + [Transfer(f"{user}:out", wallet.id, funding.id, 85, "USD")]
        with engine.connect() as conn:
            round_trips.clear()
            with conn.begin():
                outcomes = STORE.create_transfers(conn, batch, START)
            # THEN they went in one round trip (BEGIN included), then COMMIT; the chain held
            assert _kinds_of(round_trips) == BEGIN_CALL_COMMIT, round_trips
        assert outcomes == [TransferOutcome.OK] * 10
        with engine.connect() as conn:
            assert _stored_account(conn, wallet.id).credits_posted == 90
            assert [entry.sequence for entry in STORE.account_history(conn, wallet.id, limit=3, before=10)] == [9, 8, 7]
    finally:
        engine.dispose()


@pytest.mark.parametrize("odd", ["a,b", 'q"x', "b\\s", "{x}", "NULL", " sp ", "é€"])
def test_transfer_ids_with_any_characters_survive_a_batch(migrated_postgres_url: str, odd: str) -> None:
    # GIVEN ids holding what an array literal would have to quote
    engine = create_engine(migrated_postgres_url, pool_size=1)
    user = f"usr_{uuid.uuid4().hex}"
    try:
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            wallet = STORE.ensure_wallet(conn, user, "USD", START)
            held = Transfer(f"{user}:{odd}", funding.id, wallet.id, 7, "USD", TransferFlags.PENDING)
            batch = [
                held,
                Transfer(
                    f"{user}:post{odd}",
                    funding.id,
                    wallet.id,
                    7,
                    "USD",
                    TransferFlags.POST_PENDING_TRANSFER,
                    pending_id=held.id,
                ),
            ]
            # WHEN they travel in one batch
            assert STORE.create_transfers(conn, batch, START) == [TransferOutcome.OK] * 2
            # THEN they are stored exactly as sent
            assert _stored_transfer(conn, held.id).pending_status is PendingStatus.POSTED
            assert _stored_transfer(conn, batch[1].id).transfer == batch[1]
    finally:
        engine.dispose()


def _locked_elsewhere(conn: sa.Connection, account_id: str) -> bool:
    """True when another transaction holds the account's row lock; takes none itself."""
    try:
        conn.execute(sa.text("SELECT id FROM accounts WHERE id = :id FOR UPDATE NOWAIT"), {"id": account_id})
    except sa_exc.DBAPIError as error:
        if database_module.sqlstate(error) != "55P03":
            raise
        return True
    finally:
        conn.rollback()
    return False


def test_a_batch_locks_a_hot_account_after_the_others_and_last(migrated_postgres_url: str) -> None:
    engine = create_engine(migrated_postgres_url, pool_size=3)
    run = uuid.uuid4().hex[:8]
    # GIVEN a funded payer and a hot merchant whose id sorts before the payer's
    merchant = Account(f"a-{run}:merchant", "USD", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    payer = Account(f"z-{run}:payer", "USD", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    with engine.begin() as conn:
        funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
        assert STORE.create_account(conn, merchant, kind=WALLET_ACCOUNT_KIND, user_id=f"m-{run}", now=START, hot=True)
        assert STORE.create_account(conn, payer, kind=WALLET_ACCOUNT_KIND, user_id=f"p-{run}", now=START)
        assert (
            STORE.create_transfer(conn, Transfer(f"{run}:fund", funding.id, payer.id, 100, "USD"), START)
            is TransferOutcome.OK
        )
    batch = [Transfer(f"{run}:{index}", payer.id, merchant.id, 10, "USD") for index in range(3)]
    outcomes: list[object] = []
    try:
        with engine.connect() as holder, engine.connect() as observer:
            # AND another transaction holding the merchant's row
            holder.execute(sa.select(accounts_table.c.id).where(accounts_table.c.id == merchant.id).with_for_update())

            def pay() -> None:
                try:
                    with engine.begin() as conn:
                        outcomes.append(STORE.create_transfers(conn, batch, START))
                except Exception as error:  # noqa: BLE001 - reported by the assertion below
                    outcomes.append(error)

            # WHEN a batch pays the merchant
            paying = threading.Thread(target=pay)
            paying.start()
            # THEN it comes to hold the payer's row while it waits for the merchant's: it
            # locked the payer first, whatever their ids, and decided every transfer before
            # it needed the merchant
            deadline = time.monotonic() + LOCK_WAIT_SECONDS_MAX
            while not _locked_elsewhere(observer, payer.id):
                assert time.monotonic() < deadline, "the batch never locked the payer"
                time.sleep(0.02)
            assert outcomes == [] and paying.is_alive()
            holder.rollback()
            paying.join(timeout=LOCK_WAIT_SECONDS_MAX)
        # AND once the merchant is free the batch completes, in order in the merchant's history
        assert outcomes == [[TransferOutcome.OK] * 3]
        with engine.connect() as conn:
            assert _stored_account(conn, merchant.id).credits_posted == 30
            assert _stored_account(conn, payer.id).debits_posted == 30
            history = STORE.account_history(conn, merchant.id, limit=10)[::-1]
            assert [entry.transfer_id for entry in history] == [t.id for t in batch]
            assert [entry.credits_posted for entry in history] == [10, 20, 30]
    finally:
        engine.dispose()


def test_a_batch_over_the_bound_is_refused_before_anything_is_sent(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1)
    user = f"usr_{uuid.uuid4().hex}"
    try:
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            wallet = STORE.ensure_wallet(conn, user, "USD", START)
        # GIVEN one transfer more than a batch holds
        batch = [
            Transfer(f"{user}:{index}", funding.id, wallet.id, 1, "USD") for index in range(TRANSFER_BATCH_MAX + 1)
        ]
        # WHEN it is sent THEN it is an error naming the bound, and nothing moved
        with engine.begin() as conn, pytest.raises(ValueError, match=str(TRANSFER_BATCH_MAX)):
            STORE.create_transfers(conn, batch, START)
        with engine.connect() as conn:
            assert _stored_account(conn, wallet.id).credits_posted == 0
            assert STORE.create_transfers(conn, [], START) == []
    finally:
        engine.dispose()


# --- Concurrency on PostgreSQL ----------------------------------------------------------------

CONCURRENT_PROCESSES = 8
TRANSFERS_PER_PROCESS = 150
TRANSFER_AMOUNT_MAX_MINOR = 900
PAYER_FUNDING_MINOR = 30_000
CONCURRENCY_TIMEOUT_SECONDS = 180
# How long a batch may take to reach a lock another transaction holds.
LOCK_WAIT_SECONDS_MAX = 10
# A share of the rounds sends a batch of ten (SQS delivers in tens) instead of one transfer.
BATCH_SHARE = 0.3
BATCH_SIZE = 10
BALANCE_FIELDS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")

# (debit, credit, id, amount, flags, outcome, pending_id) of one attempted transfer.
Attempt = tuple[str, str, str, int, int, str, "str | None"]


def _hammer_merchant(
    url: str,
    payer_id: str,
    neighbour_ids: list[str],
    merchant_id: str,
    prefix: str,
    seed: int,
    start: Any,
    results: Any,
) -> None:
    """One process: pay the merchant and get paid back, trade with the neighbouring payers in
    both directions (so that two processes lock the same two rows in opposite orders), reserve
    and settle. Reports every attempt, or the error that stopped it."""
    engine = create_engine(url, pool_size=1)
    rng = random.Random(seed)
    attempts: list[Attempt] = []
    error: str | None = None

    def record(transfer: Transfer, outcome: TransferOutcome) -> None:
        attempts.append(
            (
                transfer.debit_account_id,
                transfer.credit_account_id,
                transfer.id,
                transfer.amount_minor,
                int(transfer.flags),
                outcome.value,
                transfer.pending_id,
            )
        )

    def attempt(transfer: Transfer) -> TransferOutcome:
        with engine.begin() as conn:
            outcome = STORE.create_transfer(conn, transfer, START)
        record(transfer, outcome)
        return outcome

    def random_pair() -> tuple[str, str]:
        counterparty = rng.choice([merchant_id, merchant_id, *neighbour_ids])
        return (payer_id, counterparty) if rng.random() < 0.5 else (counterparty, payer_id)

    def batch_of_ten(number: int) -> list[Transfer]:
        # Plain transfers, linked chains through the merchant, and a reservation posted by the
        # next transfer of its own chain: what SQS batches of ten bring to the ledger.
        batch: list[Transfer] = []
        while len(batch) < BATCH_SIZE:
            member = f"{prefix}:{number}:b{len(batch)}"
            amount = rng.randint(1, TRANSFER_AMOUNT_MAX_MINOR)
            shape = rng.random()
            room = BATCH_SIZE - len(batch)
            if shape < 0.3 and room >= 2:
                # Pay the merchant, which pays a neighbour on: both or neither.
                neighbour = rng.choice(neighbour_ids)
                batch.append(Transfer(f"{member}:in", payer_id, merchant_id, amount, "USD", LINKED))
                batch.append(Transfer(f"{member}:on", merchant_id, neighbour, amount, "USD"))
            elif shape < 0.5 and room >= 2:
                debit, credit = random_pair()
                held = Transfer(f"{member}:hold", debit, credit, amount, "USD", TransferFlags.PENDING | LINKED)
                batch.append(held)
                batch.append(
                    Transfer(
                        f"{member}:post",
                        debit,
                        credit,
                        rng.randint(1, amount),
                        "USD",
                        TransferFlags.POST_PENDING_TRANSFER,
                        pending_id=held.id,
                    )
                )
            else:
                debit, credit = random_pair()
                batch.append(Transfer(member, debit, credit, amount, "USD"))
        return batch

    try:
        start.wait(CONCURRENCY_TIMEOUT_SECONDS)
        for number in range(TRANSFERS_PER_PROCESS):
            debit, credit = random_pair()
            amount = rng.randint(1, TRANSFER_AMOUNT_MAX_MINOR)
            if rng.random() < BATCH_SHARE:
                batch = batch_of_ten(number)
                with engine.begin() as conn:
                    batch_outcomes = STORE.create_transfers(conn, batch, START)
                for transfer, outcome in zip(batch, batch_outcomes, strict=True):
                    record(transfer, outcome)
            elif rng.random() < 0.15:
                reserved = Transfer(f"{prefix}:{number}", debit, credit, amount, "USD", TransferFlags.PENDING)
                if attempt(reserved) is TransferOutcome.OK:
                    post = rng.random() < 0.5
                    attempt(
                        Transfer(
                            f"{prefix}:{number}:settle",
                            debit,
                            credit,
                            rng.randint(1, amount) if post else amount,
                            "USD",
                            TransferFlags.POST_PENDING_TRANSFER if post else TransferFlags.VOID_PENDING_TRANSFER,
                            pending_id=reserved.id,
                        )
                    )
            else:
                attempt(Transfer(f"{prefix}:{number}", debit, credit, amount, "USD"))
    except BaseException as caught:  # noqa: BLE001 - reported to the parent, which fails the test
        error = f"{type(caught).__name__}: {caught}"
    finally:
        engine.dispose()
        results.put((attempts, error))


def _balance_changes(attempts: list[Attempt]) -> Counter[tuple[str, str]]:
    """What the OK attempts must have added to each (account, total)."""
    changes: Counter[tuple[str, str]] = Counter()
    reserved_minor = {transfer_id: amount for _, _, transfer_id, amount, *_ in attempts}
    for debit, credit, _, amount, flags_value, outcome, pending_id in attempts:
        if outcome != TransferOutcome.OK.value:
            continue
        flags = TransferFlags(flags_value) & ~LINKED
        if flags == TransferFlags.PENDING:
            changes[(debit, "debits_pending")] += amount
            changes[(credit, "credits_pending")] += amount
        elif flags in (TransferFlags.POST_PENDING_TRANSFER, TransferFlags.VOID_PENDING_TRANSFER):
            posted = amount if flags == TransferFlags.POST_PENDING_TRANSFER else 0
            assert pending_id is not None
            changes[(debit, "debits_pending")] -= reserved_minor[pending_id]
            changes[(credit, "credits_pending")] -= reserved_minor[pending_id]
            changes[(debit, "debits_posted")] += posted
            changes[(credit, "credits_posted")] += posted
        else:
            changes[(debit, "debits_posted")] += amount
            changes[(credit, "credits_posted")] += amount
    return changes


@pytest.mark.parametrize("merchant_hot", [False, True], ids=["locked-in-order", "locked-last"])
def test_concurrent_transfers_through_one_hot_account_lose_nothing(
    migrated_postgres_url: str, merchant_hot: bool
) -> None:
    # GIVEN eight funded payers and one merchant with an empty wallet (marked hot or not)
    run = uuid.uuid4().hex[:8]
    merchant_user = f"merchant-{run}"
    payer_users = [f"payer-{run}-{index}" for index in range(CONCURRENT_PROCESSES)]
    merchant_id = wallet_account_id(merchant_user, "USD")
    payer_ids = [wallet_account_id(user, "USD") for user in payer_users]
    engine = create_engine(migrated_postgres_url, pool_size=1)
    try:
        with engine.begin() as conn:
            funding = STORE.ensure_system_accounts(conn, "USD", START)["funding"]
            merchant = Account(merchant_id, "USD", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
            assert STORE.create_account(
                conn,
                merchant,
                kind=WALLET_ACCOUNT_KIND,
                user_id=merchant_user,
                now=START,
                hot=merchant_hot,
            )
            for user, payer_id in zip(payer_users, payer_ids, strict=True):
                STORE.ensure_wallet(conn, user, "USD", START)
                funded = Transfer(f"{run}:fund:{user}", funding.id, payer_id, PAYER_FUNDING_MINOR, "USD")
                assert STORE.create_transfer(conn, funded, START) is TransferOutcome.OK
        with engine.connect() as conn:
            before = {account_id: STORE.get_account(conn, account_id) for account_id in [merchant_id, *payer_ids]}
            funding_before = STORE.get_account(conn, funding.id)
    finally:
        engine.dispose()

    # WHEN eight processes move money through the merchant and between neighbours at once
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(CONCURRENT_PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(
            target=_hammer_merchant,
            args=(
                migrated_postgres_url,
                payer_id,
                [payer_ids[index - 1], payer_ids[(index + 1) % CONCURRENT_PROCESSES]],
                merchant_id,
                f"{run}:p{index}",
                index,
                start,
                results,
            ),
        )
        for index, payer_id in enumerate(payer_ids)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=CONCURRENCY_TIMEOUT_SECONDS) for _ in processes]
    for process in processes:
        process.join(timeout=CONCURRENCY_TIMEOUT_SECONDS)

    # THEN no process failed: no deadlock, no invariant violation, no other error
    assert [error for _, error in reports if error] == []
    attempts = [attempt for process_attempts, _ in reports for attempt in process_attempts]
    outcomes = Counter(outcome for *_, outcome, _ in attempts)
    assert set(outcomes) <= {
        TransferOutcome.OK.value,
        TransferOutcome.INSUFFICIENT_FUNDS.value,
        TransferOutcome.LINKED_EVENT_FAILED.value,
    }
    assert outcomes[TransferOutcome.OK.value] > len(attempts) // 2
    assert any(TransferFlags.LINKED in TransferFlags(flags) for *_, flags, _, _ in attempts)
    # AND every total is exactly what the OK outcomes say: no update was lost
    changes = _balance_changes(attempts)
    engine = create_engine(migrated_postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            for account_id, initial in before.items():
                final = STORE.get_account(conn, account_id)
                assert final is not None
                for field in BALANCE_FIELDS:
                    assert getattr(final, field) == getattr(initial, field) + changes[(account_id, field)], (
                        account_id,
                        field,
                    )
                # AND no wallet was ever left overdrawn
                assert final.available >= 0, final
                # AND its history has one entry per change, the newest at its balances
                touching = sum(
                    1
                    for debit, credit, *_, outcome, _ in attempts
                    if outcome == TransferOutcome.OK.value and account_id in (debit, credit)
                )
                history = STORE.account_history(conn, account_id, limit=HISTORY_PAGE_MAX)
                initial_sequence = 1 if account_id != merchant_id else 0
                assert history[0].sequence == initial_sequence + touching, account_id
                assert history[0].balances() == account_balances(final)
            assert STORE.get_account(conn, funding.id) == funding_before
            # AND the books still balance
            STORE.check_invariants(conn)
            assert all(totals == (0, 0) for totals in STORE.totals_by_currency(conn).values())
    finally:
        engine.dispose()
