"""The relational schema, as SQLAlchemy Core tables.

One metadata serves PostgreSQL (through pg8000) and SQLite. Migrations under
`shared/migrations/` create exactly these tables; a test compares the two so that neither
drifts. Amounts are BIGINT minor units everywhere; ids are text (UUIDs or caller-chosen ids).
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa

__all__ = [
    "email_verifications",
    "mfa_recovery_codes",
    "password_resets",
    "account_history",
    "accounts",
    "card_vault",
    "conversions",
    "events",
    "flagged_activity",
    "funding_sources",
    "fx_quotes",
    "idempotency_keys",
    "kyc_documents",
    "fraud_thresholds",
    "kyc_limits",
    "kyc_profiles",
    "metadata",
    "notifications",
    "outbox",
    "payment_requests",
    "payment_reviews",
    "payments",
    "payouts",
    "personal_data_keys",
    "processed_events",
    "refresh_tokens",
    "refunds",
    "sanctioned_countries",
    "sessions",
    "sanctions_entries",
    "topups",
    "transactions",
    "transfers",
    "user_roles",
    "users",
    "withdrawals",
]

# Constraint names are fixed so that migrations and reflection agree on every database.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Timestamp(sa.TypeDecorator):
    """A UTC instant. PostgreSQL keeps the zone; SQLite keeps naive UTC text, made aware on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    # Personal data is sealed under the user's personal data key (shared.privacy): the address
    # and the name as `pd1:` text, the address found through its keyed blind index. An erased
    # user's three are empty (the key that sealed them is destroyed as well).
    sa.Column("email_encrypted", sa.Text(), nullable=True),
    sa.Column("email_index", sa.String(64), nullable=True, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("full_name_encrypted", sa.Text(), nullable=True),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("kyc_status", sa.String(16), nullable=False, server_default="unverified"),
    sa.Column("kyc_level", sa.String(16), nullable=False, server_default="none"),
    # A frozen account signs in and reads, and moves no money (shared.services.operators).
    sa.Column("frozen_at", Timestamp(), nullable=True),
    sa.Column("frozen_reason", sa.String(500), nullable=True),
    # The full name's screening key (shared.domain.sanctions.name_key), kept so that screening a
    # payee is a join; null when the name is too short to screen.
    sa.Column("screening_name_key", sa.String(200), nullable=True),
    # Set when screening at sign-up or KYC matched the sanctions list, with what it matched.
    sa.Column("sanctions_matched_at", Timestamp(), nullable=True),
    sa.Column("sanctions_match", sa.String(500), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    # Carried in every access token (`ver`) and bumped when every session ends (a password
    # change, a reset, an erasure): a token of an older version is refused at once.
    sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"),
    # When the account was closed by an erasure (DELETE /v1/users/me, the admin's erase).
    sa.Column("closed_at", Timestamp(), nullable=True),
    # When the user proved the address theirs (an e-mailed code, or a password reset link);
    # until then the account sends little (shared.services.verification).
    sa.Column("email_verified_at", Timestamp(), nullable=True),
    # The TOTP secret, sealed (AES-256-GCM, shared.services.mfa): set at enrolment, in force
    # once `mfa_enabled_at` is set by a first code.
    sa.Column("mfa_secret", sa.String(200), nullable=True),
    sa.Column("mfa_enabled_at", Timestamp(), nullable=True),
    # The last TOTP time step used: a code of that step or an earlier one is refused (replay).
    sa.Column("mfa_last_step", sa.BigInteger(), nullable=True),
)

# Each user's data keys (shared.privacy.vault), wrapped by the key-encryption key: `personal`
# (destroyed at erasure) and `retention` (destroyed once `shred_after` has passed). A destroyed
# key's `wrapped_key` is empty.
personal_data_keys = sa.Table(
    "personal_data_keys",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("purpose", sa.String(16), primary_key=True),
    sa.Column("wrapped_key", sa.Text(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("shred_after", Timestamp(), nullable=True),
    sa.Column("destroyed_at", Timestamp(), nullable=True),
    sa.Index("ix_personal_data_keys_shred_after", "shred_after"),
)

# The one-time recovery codes of a user's second factor, as SHA-256 digests: each stands in for
# a TOTP code once.
mfa_recovery_codes = sa.Table(
    "mfa_recovery_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("used_at", Timestamp(), nullable=True),
)

# Password reset requests, one row per request whether or not the address is known (so both
# cost the same and are throttled alike): the address as a keyed digest, and for a known one
# the user and the SHA-256 digest of the token the e-mailed link carries.
password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("email_digest", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=True, index=True),
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("expires_at", Timestamp(), nullable=False),
    sa.Column("used_at", Timestamp(), nullable=True),
)

# The e-mail verification code of a user (one at a time: a resend replaces it), as a keyed
# digest, with the wrong tries it has had.
email_verifications = sa.Table(
    "email_verifications",
    metadata,
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("code_digest", sa.String(64), nullable=False),
    sa.Column("sent_at", Timestamp(), nullable=False),
    sa.Column("expires_at", Timestamp(), nullable=False),
    sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
)

# The operator roles a user holds besides `user`, which every account has (shared.domain.roles).
user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(16), primary_key=True),
    # None when granted from the command line against the database (the first admin).
    sa.Column("granted_by", sa.String(40), nullable=True),
    sa.Column("granted_at", Timestamp(), nullable=False),
)

# Refresh tokens are stored as SHA-256 digests; `family_id` ties every rotation of one login
# together so that the reuse of a spent token can revoke the whole family.
refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(40), nullable=False, index=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("issued_at", Timestamp(), nullable=False),
    sa.Column("expires_at", Timestamp(), nullable=False),
    sa.Column("spent_at", Timestamp(), nullable=True),
    sa.Column("revoked_at", Timestamp(), nullable=True),
)

# A session is one refresh-token family, started by a sign-in: its id is the family's and the
# `sid` of its access tokens. The device and address are the ones of its sign-in and its last
# refresh, for the owner to recognise it; an ended session's access tokens are refused at once.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("user_agent", sa.String(300), nullable=False, server_default=""),
    sa.Column("ip_address", sa.String(45), nullable=False, server_default=""),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("last_used_at", Timestamp(), nullable=False),
    sa.Column("ended_at", Timestamp(), nullable=True),
)

# The sandbox card gateway's vault: a token stands for a card. The number itself is never
# stored; the sandbox keeps only the behaviour its test number asked for.
card_vault = sa.Table(
    "card_vault",
    metadata,
    sa.Column("token", sa.String(40), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("behaviour", sa.String(32), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
)

funding_sources = sa.Table(
    "funding_sources",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("brand", sa.String(32), nullable=True),
    sa.Column("last4", sa.String(4), nullable=False),
    sa.Column("exp_month", sa.Integer, nullable=True),
    sa.Column("exp_year", sa.Integer, nullable=True),
    # The gateway's token for the card or account, sealed under the owner's personal key.
    sa.Column("gateway_token", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
)

# Ledger accounts, TigerBeetle's shape: four running totals, never summed from entries.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("flags", sa.Integer, nullable=False, server_default="0"),
    sa.Column("user_id", sa.String(40), nullable=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("debits_pending", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debits_posted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("credits_pending", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("credits_posted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp(), nullable=False),
    # The sequence of the account's newest account_history entry (0: none yet). Kept on the row,
    # which every ledger write locks anyway, so numbering entries needs no lookup.
    sa.Column("history_sequence", sa.BigInteger, nullable=False, server_default="0"),
    # Touched by many transfers (the platform's accounts, a merchant): locked after every other
    # account, and in a batch as late as the rules allow (migration 0007). Never changes.
    sa.Column("hot", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("user_id", "currency", "kind"),
)

# The accounts a transfer names are checked by the ledger, which locks both before it writes, not
# by foreign keys; accounts are never deleted (migration 0006 makes PostgreSQL refuse it).
transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("debit_account_id", sa.String(80), nullable=False),
    sa.Column("credit_account_id", sa.String(80), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("flags", sa.Integer, nullable=False),
    sa.Column("pending_id", sa.String(80), nullable=True),
    # For a pending transfer: pending, posted, voided or expired. Empty for the others.
    sa.Column("pending_status", sa.String(8), nullable=True),
    sa.Column("timeout_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp(), nullable=False),
    # created_at + timeout_seconds for a pending transfer with a timeout, else empty: stored so
    # that the expiry sweep finds the reservations due, soonest first, through the index below.
    sa.Column("expires_at", Timestamp(), nullable=True),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.Index("ix_transfers_pending_status_expires_at", "pending_status", "expires_at"),
)

# Append-only: an account's balances after each change (TigerBeetle's account balances), written
# by the same statement as the transfer or expiry that made the change. The primary key doubles
# as the index that reads an account's history newest first.
account_history = sa.Table(
    "account_history",
    metadata,
    sa.Column("account_id", sa.String(80), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    # Empty only for the opening entry of balances that predate the history.
    sa.Column("transfer_id", sa.String(80), nullable=True),
    # transfer, expiry or opening (shared.domain.ledger.HistoryCause).
    sa.Column("cause", sa.String(8), nullable=False),
    sa.Column("debits_pending", sa.BigInteger, nullable=False),
    sa.Column("debits_posted", sa.BigInteger, nullable=False),
    sa.Column("credits_pending", sa.BigInteger, nullable=False),
    sa.Column("credits_posted", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("payer_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("payee_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("failure_message", sa.String(200), nullable=True),
    sa.Column("fraud_score", sa.Integer, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    # What score-fraud reads about a payment's parties: the payer's recent payments and payees,
    # a pair's history, and the payee's recent payers (shared.services.scoring); the payer's sent
    # volume over a window, for the limit check (shared.services.limits).
    sa.Index("ix_payments_payer_created", "payer_id", "created_at"),
    sa.Index("ix_payments_payee_created", "payee_id", "created_at"),
    sa.Index("ix_payments_payer_payee", "payer_id", "payee_id"),
)

# A held payment's manual review: open until an operator (or the sweeper, past its age) decides.
payment_reviews = sa.Table(
    "payment_reviews",
    metadata,
    sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.id"), primary_key=True),
    sa.Column("payer_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fraud_score", sa.Integer, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    # The coarse reason the payer sees; `reasons` (the rules that fired) is for operators.
    sa.Column("review_reason", sa.String(40), nullable=False),
    sa.Column("decided_by", sa.String(40), nullable=True),
    sa.Column("decision_reason", sa.String(500), nullable=True),
    sa.Column("decided_at", Timestamp(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Index("ix_payment_reviews_status_created", "status", "created_at"),
)

# A refund returns (part of) a completed payment from its payee to its payer, through a saga of
# its own. `payer_id` and `payee_id` are the payment's: the refund moves money the other way.
refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("payer_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("payee_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("failure_message", sa.String(200), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
)

# One user asks another (the payer) for money; paying it creates a payment, kept in payment_id.
payment_requests = sa.Table(
    "payment_requests",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("requester_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("payer_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.id"), nullable=True, index=True),
    sa.Column("expires_at", Timestamp(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    # The expiry sweep finds the open requests due, soonest first.
    sa.Index("ix_payment_requests_status_expires_at", "status", "expires_at"),
)

topups = sa.Table(
    "topups",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("funding_source_id", sa.String(40), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decline_code", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
)

# The append-only event store: every state change of every aggregate, in order.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(80), nullable=False),
    sa.Column("aggregate_sequence", sa.Integer, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=True),
    sa.Column("occurred_at", Timestamp(), nullable=False),
    # W3C Trace Context of the span that recorded the event (the CloudEvent `traceparent`).
    sa.Column("traceparent", sa.String(55), nullable=True),
    sa.UniqueConstraint("subject", "aggregate_sequence"),
)

# Events waiting to reach the bus. Written in the transaction that wrote the event; a row
# leaves when EventBridge has accepted the event.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("event_id", sa.String(40), sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("created_at", Timestamp(), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=True),
)

# A consumer's record of the CloudEvents it has handled, written with the effect.
processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("consumer", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(40), primary_key=True),
    sa.Column("processed_at", Timestamp(), nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response_status", sa.Integer, nullable=False),
    sa.Column("response_body", sa.JSON, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False, index=True),
)

# The read model behind GET /v1/transactions: one row per user and money movement.
transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("type", sa.String(24), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("counterparty_id", sa.String(40), nullable=True),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    # A conversion is one row in the user's history that touches two wallets: `amount_minor`
    # leaves the `currency` wallet, `counter_amount_minor` enters the `counter_currency` one.
    sa.Column("counter_amount_minor", sa.BigInteger, nullable=True),
    sa.Column("counter_currency", sa.String(3), nullable=True),
    sa.Index("ix_transactions_user_created", "user_id", "created_at", "id"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    # Wording with COUNTERPARTY where the other party's name goes (shared.services.notifications);
    # texts stored before that rule are sealed under the recipient's personal key.
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    # The other person the text is about, by id: their name is filled in when it is read
    # (shared.services.notifications), so no one's name is stored in someone else's list.
    sa.Column("counterparty_id", sa.String(40), nullable=True),
    sa.Column("read_at", Timestamp(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.UniqueConstraint("user_id", "event_id"),
    sa.Index("ix_notifications_user_created", "user_id", "created_at", "id"),
)


# A conversion quote: the rate and amounts a user was offered, honoured until expires_at, once.
fx_quotes = sa.Table(
    "fx_quotes",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("from_currency", sa.String(3), nullable=False),
    sa.Column("to_currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("receive_minor", sa.BigInteger, nullable=False),
    sa.Column("fee_minor", sa.BigInteger, nullable=False),
    # Exact rationals as "numerator/denominator" text; the shown rates are rounded from them.
    sa.Column("mid_rate", sa.String(80), nullable=False),
    sa.Column("spread_basis_points", sa.Integer, nullable=False),
    sa.Column("rates_published_on", sa.Date, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("expires_at", Timestamp(), nullable=False),
    # Set by the conversion that used the quote: a quote is honoured once.
    sa.Column("conversion_id", sa.String(40), nullable=True, unique=True),
)

conversions = sa.Table(
    "conversions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("quote_id", sa.String(40), nullable=True),
    sa.Column("from_currency", sa.String(3), nullable=False),
    sa.Column("to_currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("receive_minor", sa.BigInteger, nullable=False),
    sa.Column("fee_minor", sa.BigInteger, nullable=False),
    sa.Column("mid_rate", sa.String(80), nullable=False),
    sa.Column("spread_basis_points", sa.Integer, nullable=False),
    sa.Column("rates_published_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
)

withdrawals = sa.Table(
    "withdrawals",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("funding_source_id", sa.String(40), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("payout_id", sa.String(40), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.Index("ix_withdrawals_status_updated", "status", "updated_at"),
)

# The sandbox gateway's payouts, one per idempotency key (the withdrawal id): a retried payout
# answers the stored result instead of paying again.
payouts = sa.Table(
    "payouts",
    metadata,
    sa.Column("idempotency_key", sa.String(80), primary_key=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("token", sa.String(40), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
)

# What a user said about themself to reach KYC level `basic` (POST /v1/kyc): one row per user,
# replaced while they are not verified yet.
kyc_profiles = sa.Table(
    "kyc_profiles",
    metadata,
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
    # Sealed under the user's retention key (shared.privacy): kept after an erasure for the
    # retention period, as anti-money-laundering rules require, then shredded with the key.
    sa.Column("legal_name", sa.Text(), nullable=False),
    sa.Column("date_of_birth", sa.Text(), nullable=False),
    sa.Column("address_line1", sa.Text(), nullable=False),
    sa.Column("address_line2", sa.Text(), nullable=True),
    sa.Column("city", sa.Text(), nullable=False),
    sa.Column("postal_code", sa.Text(), nullable=False),
    sa.Column("address_country", sa.String(2), nullable=False),
    sa.Column("phone", sa.Text(), nullable=False),
    # The legal name's screening key, as users.screening_name_key.
    sa.Column("legal_name_key", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
)

# An identity document a user uploaded. The file is in the documents bucket under `object_key`
# (SSE-KMS); the row says what it is and where its check stands (shared.domain.kyc).
kyc_documents = sa.Table(
    "kyc_documents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("document_type", sa.String(24), nullable=False),
    # Sealed under the user's retention key, as the profile.
    sa.Column("document_number", sa.Text(), nullable=False),
    sa.Column("issuing_country", sa.String(2), nullable=False),
    sa.Column("expiry_date", sa.Date, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("object_key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Why it was rejected; why the verifier sent it to review.
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("review_reason", sa.String(40), nullable=True),
    # The operator who decided it in review (null when the verifier decided), and why.
    sa.Column("decided_by", sa.String(40), nullable=True),
    sa.Column("decision_reason", sa.String(500), nullable=True),
    sa.Column("decided_at", Timestamp(), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    # The review queue: documents in `review`, oldest first.
    sa.Index("ix_kyc_documents_status_created", "status", "created_at"),
)

# What the daily reconciliation found wrong (shared.services.reconciliation): one row per
# finding, per day, currency and subject (a payment, a top-up; "" for a currency-wide one), so
# that running it again for a day records nothing twice. The flagged-activity report lists them.
flagged_activity = sa.Table(
    "flagged_activity",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("finding", sa.String(40), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False, server_default=""),
    sa.Column("subject_id", sa.String(80), nullable=False, server_default=""),
    sa.Column("expected_minor", sa.BigInteger, nullable=True),
    sa.Column("actual_minor", sa.BigInteger, nullable=True),
    sa.Column("detail", sa.String(500), nullable=False),
    sa.Column("detected_at", Timestamp(), nullable=False),
    sa.UniqueConstraint("day", "finding", "currency", "subject_id"),
)


# The limits of each KYC level (shared.domain.limits), in USD minor units: seeded with the
# defaults by migration 0011_limits, edited by admins (POST /v1/admin/limits/...).
kyc_limits = sa.Table(
    "kyc_limits",
    metadata,
    sa.Column("kyc_level", sa.String(16), primary_key=True),
    sa.Column("limit_name", sa.String(24), primary_key=True),
    sa.Column("amount_usd_minor", sa.BigInteger, nullable=False),
    # The admin who set the amount; None for the seeded default.
    sa.Column("updated_by", sa.String(40), nullable=True),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.CheckConstraint("amount_usd_minor > 0", name="amount_positive"),
)


# The fraud thresholds an admin changed (`/v1/admin/fraud-thresholds`), one row per threshold
# named as shared.domain.fraud.FraudRules names it; a threshold without a row has its default
# from the settings.
fraud_thresholds = sa.Table(
    "fraud_thresholds",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(40), nullable=True),
    sa.Column("updated_at", Timestamp(), nullable=False),
)

# The sanctions list, one row per screened name (a listed party's primary name and each alias),
# replaced whole by `paystream sanctions refresh` (shared.services.sanctions).
sanctions_entries = sa.Table(
    "sanctions_entries",
    metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name_key", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(350), nullable=False),
    sa.Column("entry_type", sa.String(40), nullable=False),
    sa.Column("programs", sa.String(200), nullable=False),
    sa.Column("loaded_at", Timestamp(), nullable=False),
    sa.Index("ix_sanctions_entries_name_key", "name_key"),
)

# Countries under comprehensive sanctions programmes: a user of one matches by country.
sanctioned_countries = sa.Table(
    "sanctioned_countries",
    metadata,
    sa.Column("country", sa.String(2), primary_key=True),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("loaded_at", Timestamp(), nullable=False),
)
