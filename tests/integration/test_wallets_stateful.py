"""Conversions and withdrawals in any order, with payouts, sweeps, redeliveries and time passing:
the books balance in every currency, every statement closes on its wallet, a withdrawal's status
matches its reservation, and the history rebuilt from the events equals the live one. A hypothesis
state machine over the service layer on a real SQLite database."""

from __future__ import annotations

import functools
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from schemas.api import ConversionQuoteRequest, ConversionRequest, WithdrawalRequest
from shared.adapters.card_gateway import SandboxGateway
from shared.adapters.database import create_engine, migrate
from shared.adapters.fx_rates import RatesSource
from shared.adapters.ledger_store import LedgerStore, system_account_id
from shared.adapters.tables import funding_sources, transactions, withdrawals
from shared.domain.ledger import PendingStatus
from shared.http import ApiError
from shared.privacy import LocalKeyEncryptionKey, PersonalDataVault, write_local_key
from shared.services.context import EventContext
from shared.services.conversions import FxPolicy, create_quote, execute_conversion
from shared.services.history import statement
from shared.services.projection import rebuild
from shared.services.withdrawals import create_withdrawal, pay_out_withdrawal, time_out_withdrawal
from tests.fixtures.fx import write_rates_of
from tests.fixtures.ledger import fund
from tests.fixtures.users import insert_user

pytestmark = pytest.mark.integration

CURRENCIES = ("USD", "EUR", "JPY", "KWD")
OPENING_BALANCE_MINOR = {"USD": 50_000, "JPY": 20_000}
RESERVATION_TIMEOUT_SECONDS = 600
POLICY = FxPolicy(spread_basis_points=50, quote_ttl_seconds=60, rates_max_age_days=7, pegs_max_age_days=366)
START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BANK_ACCOUNTS = {"paid": "000123456789", "no_account": "000111111116"}


@functools.cache
def _migrated_template() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="paystream-wallets-"))
    engine = create_engine(f"sqlite:///{directory / 'template.db'}")
    migrate(engine)
    engine.dispose()
    write_rates_of(directory / "rates.json", START.date())
    return directory


class WalletsMachine(RuleBasedStateMachine):
    quotes = Bundle("quotes")
    pending_withdrawals = Bundle("withdrawals")

    @initialize()
    def open_funded_wallets(self):
        self.directory = tempfile.TemporaryDirectory()
        database = Path(self.directory.name) / "wallets.db"
        shutil.copy(_migrated_template() / "template.db", database)
        self.engine = create_engine(f"sqlite:///{database}")
        self.ledger = LedgerStore()
        self.gateway = SandboxGateway(lambda: b"k" * 32)
        write_local_key(Path(self.directory.name) / "personal-data-key")
        self.privacy = PersonalDataVault(
            LocalKeyEncryptionKey(Path(self.directory.name) / "personal-data-key"), cache_seconds=60
        )
        self.rates = RatesSource(_migrated_template() / "rates.json")
        self.now = START
        self.user_id = "usr_wanda"
        self.banks: dict[str, str] = {}
        with self.engine.begin() as conn:
            insert_user(
                conn, self.user_id, now=self.now, email="wanda@example.com", full_name="Wanda", privacy=self.privacy
            )
            for outcome, number in BANK_ACCOUNTS.items():
                token = self.gateway.tokenize_bank_account(
                    conn, routing_number="110000000", account_number=number, now=self.now
                ).token
                conn.execute(
                    funding_sources.insert().values(
                        id=f"fs_{outcome}",
                        user_id=self.user_id,
                        type="bank_account",
                        last4=number[-4:],
                        gateway_token=self.privacy.seal(conn, self.user_id, "funding_sources.gateway_token", token),
                        created_at=self.now,
                    )
                )
                self.banks[outcome] = f"fs_{outcome}"
            for currency, amount in OPENING_BALANCE_MINOR.items():
                # Straight into the ledger: a top-up's own history is not what this machine tests.
                fund(conn, self.ledger, self.user_id, amount, self.now, currency)

    def teardown(self):
        self.engine.dispose()
        self.directory.cleanup()

    def _context(self, producer: str) -> EventContext:
        return EventContext(producer=producer, now=self.now, correlation_id=None)

    @rule(source=st.sampled_from(CURRENCIES), to=st.sampled_from(CURRENCIES), amount=st.integers(1, 60_000))
    def convert_at_the_current_rate(self, source, to, amount):
        request = ConversionRequest(from_currency=source, to_currency=to, amount=amount)
        try:
            with self.engine.begin() as conn:
                execute_conversion(
                    conn,
                    user_id=self.user_id,
                    request=request,
                    ledger=self.ledger,
                    rates=self.rates,
                    policy=POLICY,
                    context=self._context("wallets"),
                )
        except ApiError as error:
            assert error.status == 400 and error.code in ("same_currency", "amount_too_small")

    @rule(
        target=quotes, source=st.sampled_from(CURRENCIES), to=st.sampled_from(CURRENCIES), amount=st.integers(1, 60_000)
    )
    def quote(self, source, to, amount):
        request = ConversionQuoteRequest(from_currency=source, to_currency=to, amount=amount)
        try:
            with self.engine.begin() as conn:
                return create_quote(
                    conn,
                    user_id=self.user_id,
                    request=request,
                    rates=self.rates,
                    policy=POLICY,
                    context=self._context("wallets"),
                ).id
        except ApiError as error:
            assert error.code in ("same_currency", "amount_too_small")
            return "fxq_none"

    @rule(quote_id=quotes)
    def convert_at_a_quoted_rate(self, quote_id):
        try:
            with self.engine.begin() as conn:
                execute_conversion(
                    conn,
                    user_id=self.user_id,
                    request=ConversionRequest(quote_id=quote_id),
                    ledger=self.ledger,
                    rates=self.rates,
                    policy=POLICY,
                    context=self._context("wallets"),
                )
        except ApiError as error:
            assert error.code in ("quote_not_found", "quote_expired", "quote_already_used")

    @rule(
        target=pending_withdrawals,
        currency=st.sampled_from(CURRENCIES),
        amount=st.integers(1, 30_000),
        bank=st.sampled_from(sorted(BANK_ACCOUNTS)),
    )
    def withdraw(self, currency, amount, bank):
        request = WithdrawalRequest(funding_source_id=self.banks[bank], amount=amount, currency=currency)
        try:
            with self.engine.begin() as conn:
                row, _ = create_withdrawal(
                    conn,
                    user_id=self.user_id,
                    request=request,
                    ledger=self.ledger,
                    timeout_seconds=RESERVATION_TIMEOUT_SECONDS,
                    rates=self.rates.current(),
                    context=self._context("wallets"),
                )
            return row.id
        except ApiError as error:
            # The user is at KYC level none: a day's withdrawals stop at its withdrawal_24h.
            assert (error.status, error.code) in ((402, "insufficient_funds"), (422, "limit_exceeded"))
            return "wdr_none"

    @rule(withdrawal_id=pending_withdrawals)
    def pay_out(self, withdrawal_id):
        # Run as often as hypothesis likes: a redelivered event.
        with self.engine.begin() as conn:
            pay_out_withdrawal(
                conn,
                withdrawal_id,
                ledger=self.ledger,
                gateway=self.gateway,
                privacy=self.privacy,
                context=self._context("payout"),
            )

    @rule(withdrawal_id=pending_withdrawals)
    def sweep(self, withdrawal_id):
        with self.engine.begin() as conn:
            time_out_withdrawal(conn, withdrawal_id, ledger=self.ledger, context=self._context("sweep-sagas"))

    @rule(seconds=st.integers(1, 2 * RESERVATION_TIMEOUT_SECONDS))
    def time_passes(self, seconds):
        self.now += timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            self.ledger.expire_pending_transfers(conn, self.now)

    @invariant()
    def every_currencys_books_balance(self):
        with self.engine.connect() as conn:
            self.ledger.check_invariants(conn)
            for currency, (posted_net, pending_net) in self.ledger.totals_by_currency(conn).items():
                assert (posted_net, pending_net) == (0, 0), currency

    @invariant()
    def every_statement_closes_on_its_wallet(self):
        with self.engine.connect() as conn:
            for wallet in self.ledger.wallets_of(conn, self.user_id):
                found = statement(
                    conn,
                    user_id=self.user_id,
                    currency=wallet.currency,
                    created_from=START - timedelta(days=1),
                    created_to=self.now + timedelta(days=1),
                )
                opening = OPENING_BALANCE_MINOR.get(wallet.currency, 0)
                assert opening + found.closing_balance_minor == wallet.balance_posted, wallet.currency

    @invariant()
    def a_withdrawals_status_matches_its_reservation(self):
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(withdrawals)).all():
                reserved = self.ledger.get_transfer(conn, f"{row.id}:reserve")
                if row.status == "succeeded":
                    assert reserved is not None and reserved.pending_status is PendingStatus.POSTED, row.id
                elif row.status == "failed":
                    assert reserved is not None and reserved.pending_status in (
                        PendingStatus.VOIDED,
                        PendingStatus.EXPIRED,
                    ), row.id
                payouts_account = self.ledger.get_account(conn, system_account_id(row.currency, "payouts"))
                assert payouts_account is not None
                assert payouts_account.balance_posted == sum(
                    w.amount_minor
                    for w in conn.execute(
                        sa.select(withdrawals).where(
                            withdrawals.c.currency == row.currency, withdrawals.c.status == "succeeded"
                        )
                    )
                )

    @invariant()
    def the_history_rebuilt_from_the_events_equals_the_live_one(self):
        history = sa.select(transactions).order_by(transactions.c.id, transactions.c.user_id)
        with self.engine.connect() as conn, conn.begin() as transaction:
            live = conn.execute(history).all()
            rebuild(conn)
            assert conn.execute(history).all() == live
            transaction.rollback()


WalletsMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestWalletsUnderAnyOrderOfSteps = WalletsMachine.TestCase
