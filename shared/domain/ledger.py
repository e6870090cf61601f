"""The double-entry ledger rules, modelled on TigerBeetle's accounts and transfers.

An account holds four running totals in minor units of one currency: `debits_pending`,
`debits_posted`, `credits_pending` and `credits_posted`. A transfer moves a positive amount from
one account (debited) to another (credited) of the same currency. A pending transfer reserves the
amount on both sides; a later transfer posts it (all or part, releasing the rest) or voids it.

Transfer ids are chosen by the caller, so a retry is idempotent: creating a transfer whose id is
already stored with the same fields is `EXISTS` and changes nothing; with different fields it is
the first `EXISTS_WITH_DIFFERENT_*` in a fixed order.

`decide` answers whether a transfer may be created given the current state, `apply` computes the
new balances, and `InMemoryLedger` wires both into the reference model that property tests and the
differential test against the SQL ledger run. Expected refusals are `TransferOutcome` values;
exceptions mean a bug in the caller or corrupt state.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.domain.money import is_supported_currency

__all__ = [
    "TRANSFER_BATCH_MAX",
    "Account",
    "AccountFlags",
    "AccountHistoryEntry",
    "HistoryCause",
    "InMemoryLedger",
    "LedgerInvariantViolated",
    "PendingStatus",
    "StoredTransfer",
    "Transfer",
    "TransferFlags",
    "TransferOutcome",
    "account_balances",
    "apply",
    "check_account_invariants",
    "HISTORY_PAGE_MAX",
    "check_batch_size",
    "check_history_matches",
    "require_history_page",
    "check_ledger_invariants",
    "create_transfers_in_chains",
    "decide",
    "expire_pending",
    "is_expired",
]


class LedgerInvariantViolated(Exception):
    """A ledger invariant does not hold: a bug or corrupt state, never an expected outcome."""


def _require(condition: bool, message: str) -> None:
    # An explicit check instead of `assert`, which `python -O` removes.
    if not condition:
        raise LedgerInvariantViolated(message)


class AccountFlags(enum.IntFlag):
    """Balance floors an account enforces on itself."""

    NONE = 0
    # A user wallet: it can never spend more than it has received (never overdrawn).
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    # The mirror, for accounts that may only give back what they took.
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class TransferFlags(enum.IntFlag):
    """What kind of transfer this is, and whether it is linked to the next one in its batch.

    At most one of PENDING, POST_PENDING_TRANSFER and VOID_PENDING_TRANSFER may be set. LINKED
    combines with any of them: it chains the transfer to the next one of the batch, and a chain
    succeeds or fails as a whole (see create_transfers_in_chains).
    """

    NONE = 0
    PENDING = 1
    POST_PENDING_TRANSFER = 2
    VOID_PENDING_TRANSFER = 4
    LINKED = 8


# At most this many transfers in one batch: TigerBeetle's limit, which also bounds the arrays one
# round trip carries to PostgreSQL and the row locks one transaction holds.
TRANSFER_BATCH_MAX = 8190

_ACCOUNT_FLAGS_KNOWN = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | (AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
# The flags that say what kind of transfer this is; LINKED is about the batch, not the kind.
_TRANSFER_KIND_FLAGS = TransferFlags.PENDING | TransferFlags.POST_PENDING_TRANSFER | TransferFlags.VOID_PENDING_TRANSFER
_TRANSFER_FLAGS_KNOWN = _TRANSFER_KIND_FLAGS | TransferFlags.LINKED
_POST_OR_VOID = TransferFlags.POST_PENDING_TRANSFER | TransferFlags.VOID_PENDING_TRANSFER


class PendingStatus(str, enum.Enum):
    """Where a pending transfer stands: still reserved, posted, voided, or released by expiry."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    # Its timeout passed and `expire_pending` released the reservation.
    EXPIRED = "expired"


class TransferOutcome(str, enum.Enum):
    """Every result of creating a transfer. Only OK changes state."""

    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = "exists_with_different_debit_account_id"
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = "exists_with_different_credit_account_id"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_CURRENCY = "exists_with_different_currency"
    EXISTS_WITH_DIFFERENT_FLAGS = "exists_with_different_flags"
    EXISTS_WITH_DIFFERENT_PENDING_ID = "exists_with_different_pending_id"
    EXISTS_WITH_DIFFERENT_TIMEOUT = "exists_with_different_timeout"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY = "accounts_must_have_the_same_currency"
    TRANSFER_CURRENCY_MUST_MATCH_ACCOUNTS = "transfer_currency_must_match_accounts"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_MUST_BE_EMPTY = "pending_id_must_be_empty"
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = "timeout_reserved_for_pending_transfer"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = "pending_transfer_has_different_debit_account_id"
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = "pending_transfer_has_different_credit_account_id"
    PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY = "pending_transfer_has_different_currency"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXCEEDS_DEBITS = "exceeds_debits"
    # The transfer was fine on its own, but another transfer of its linked chain failed.
    LINKED_EVENT_FAILED = "linked_event_failed"
    # The last transfer of the batch is LINKED: its chain never closes, so the whole chain fails.
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"

    @property
    def ok_or_exists(self) -> bool:
        """True when the transfer is in the ledger: just created, or an identical retry."""
        return self in (TransferOutcome.OK, TransferOutcome.EXISTS)


def _require_int(value: object, name: str) -> None:
    # bool is an int subclass; a True balance is always a bug.
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _require_str(value: object, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, got {value!r}")


def _require_aware(moment: object, name: str) -> None:
    # Mixing naive and aware datetimes fails at comparison time, far from the cause; and a
    # naive time in a ledger is ambiguous anyway.
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


@dataclass(frozen=True, slots=True)
class Account:
    """A ledger account: one currency, four running totals in minor units."""

    id: str
    currency: str
    flags: AccountFlags = AccountFlags.NONE
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def __post_init__(self) -> None:
        _require_str(self.id, "id")
        _require_str(self.currency, "currency")
        if isinstance(self.flags, bool) or not isinstance(self.flags, int):
            raise TypeError(f"flags must be AccountFlags, got {self.flags!r}")
        if int(self.flags) & ~int(_ACCOUNT_FLAGS_KNOWN):
            raise ValueError(f"unknown account flags: {self.flags!r}")
        # Rows read back from SQL carry plain ints; normalise so equality and repr agree.
        object.__setattr__(self, "flags", AccountFlags(int(self.flags)))
        if self.flags == _ACCOUNT_FLAGS_KNOWN:
            # Both floors at once would pin the account at zero forever.
            raise ValueError("account flags are mutually exclusive")
        for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted"):
            _require_int(getattr(self, name), name)

    @property
    def available(self) -> int:
        """What the account can still spend: posted credits minus posted and reserved debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def balance_posted(self) -> int:
        """Posted credits minus posted debits."""
        return self.credits_posted - self.debits_posted


@dataclass(frozen=True, slots=True)
class Transfer:
    """A request to move `amount_minor` from the debit account to the credit account.

    `timeout_seconds` only has meaning for a PENDING transfer: after that long it can no longer be
    posted or voided; 0 means it never expires. `pending_id` names the pending transfer that a
    POST_PENDING_TRANSFER or VOID_PENDING_TRANSFER settles; an empty string is read as None.
    """

    id: str
    debit_account_id: str
    credit_account_id: str
    amount_minor: int
    currency: str
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    timeout_seconds: int = 0

    def __post_init__(self) -> None:
        _require_str(self.id, "id")
        _require_str(self.debit_account_id, "debit_account_id")
        _require_str(self.credit_account_id, "credit_account_id")
        _require_str(self.currency, "currency")
        _require_int(self.amount_minor, "amount_minor")
        _require_int(self.timeout_seconds, "timeout_seconds")
        if self.timeout_seconds < 0:
            raise ValueError(f"timeout_seconds must be >= 0, got {self.timeout_seconds}")
        if isinstance(self.flags, bool) or not isinstance(self.flags, int):
            raise TypeError(f"flags must be TransferFlags, got {self.flags!r}")
        if int(self.flags) & ~int(_TRANSFER_FLAGS_KNOWN):
            raise ValueError(f"unknown transfer flags: {self.flags!r}")
        object.__setattr__(self, "flags", TransferFlags(int(self.flags)))
        if self.pending_id == "":
            object.__setattr__(self, "pending_id", None)
        if self.pending_id is not None and not isinstance(self.pending_id, str):
            raise TypeError(f"pending_id must be a str or None, got {self.pending_id!r}")

    @property
    def is_post_or_void(self) -> bool:
        """True if this transfer settles a pending transfer (post or void)."""
        return bool(self.flags & _POST_OR_VOID)


@dataclass(frozen=True, slots=True)
class StoredTransfer:
    """A transfer as the ledger holds it: when it was created and, if PENDING, where it stands."""

    transfer: Transfer
    pending_status: PendingStatus | None
    created_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.created_at, "created_at")
        if self.pending_status is not None:
            object.__setattr__(self, "pending_status", PendingStatus(self.pending_status))
        is_pending = TransferFlags.PENDING in self.transfer.flags
        if is_pending != (self.pending_status is not None):
            raise ValueError(
                "pending_status is set for PENDING transfers and only for them: "
                f"flags={self.transfer.flags!r} pending_status={self.pending_status!r}"
            )


def _exists_outcome(transfer: Transfer, stored: Transfer) -> TransferOutcome:
    # Fields compared in the order of the enum: the first difference names the outcome.
    if transfer.debit_account_id != stored.debit_account_id:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
    if transfer.credit_account_id != stored.credit_account_id:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
    if transfer.amount_minor != stored.amount_minor:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_AMOUNT
    if transfer.currency != stored.currency:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_CURRENCY
    if transfer.flags != stored.flags:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_FLAGS
    if transfer.pending_id != stored.pending_id:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_PENDING_ID
    if transfer.timeout_seconds != stored.timeout_seconds:
        return TransferOutcome.EXISTS_WITH_DIFFERENT_TIMEOUT
    return TransferOutcome.EXISTS


def is_expired(stored: StoredTransfer, now: datetime) -> bool:
    """True if `stored` is a still-reserved PENDING transfer whose timeout has passed.

    Expired means `timeout_seconds > 0` and `created_at + timeout_seconds <= now`.
    """
    _require_aware(now, "now")
    timeout_seconds = stored.transfer.timeout_seconds
    return (
        stored.pending_status is PendingStatus.PENDING
        and timeout_seconds > 0
        and stored.created_at + timedelta(seconds=timeout_seconds) <= now
    )


def decide(
    transfer: Transfer,
    *,
    existing: StoredTransfer | None,
    pending: StoredTransfer | None,
    debit: Account | None,
    credit: Account | None,
    now: datetime,
) -> TransferOutcome:
    """Return the outcome of creating `transfer` in the current state; OK means apply it.

    The caller looks up: `existing`, the stored transfer with `transfer.id`; `pending`, the stored
    transfer with `transfer.pending_id` (None when pending_id is None or unknown); `debit` and
    `credit`, the accounts named by `transfer.debit_account_id` and `transfer.credit_account_id`.
    "Post/void" below means the flags contain POST_PENDING_TRANSFER or VOID_PENDING_TRANSFER.

    The checks run in this order; the first that fails is the outcome:

     1. `existing` is not None: compare, in this order, debit_account_id, credit_account_id,
        amount_minor, currency, flags, pending_id, timeout_seconds; the first difference gives
        EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID, _CREDIT_ACCOUNT_ID, _AMOUNT, _CURRENCY, _FLAGS,
        _PENDING_ID, _TIMEOUT; no difference gives EXISTS. Nothing else is looked at, so a retry
        stays EXISTS whatever happened since (balances spent, pending transfer posted, expired).
     2. More than one of PENDING, POST_PENDING_TRANSFER, VOID_PENDING_TRANSFER set:
        FLAGS_ARE_MUTUALLY_EXCLUSIVE. (LINKED is about the batch: decide() ignores it.)
     3. amount_minor <= 0: AMOUNT_MUST_BE_POSITIVE.
     4. debit_account_id == credit_account_id: ACCOUNTS_MUST_BE_DIFFERENT.
     5. Post/void with pending_id None: PENDING_ID_REQUIRED.
        Any other transfer with pending_id not None: PENDING_ID_MUST_BE_EMPTY.
     6. Not PENDING and timeout_seconds != 0: TIMEOUT_RESERVED_FOR_PENDING_TRANSFER.
     7. Post/void only, about `pending` (p):
        a. p is None: PENDING_TRANSFER_NOT_FOUND.
        b. p's flags lack PENDING: PENDING_TRANSFER_NOT_PENDING.
        c. debit_account_id != p's: PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID.
        d. credit_account_id != p's: PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID.
        e. currency != p's: PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY.
        f. amount_minor > p's amount: EXCEEDS_PENDING_TRANSFER_AMOUNT.
        g. Void and amount_minor != p's amount: PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT.
        h. p's status POSTED: PENDING_TRANSFER_ALREADY_POSTED; VOIDED:
           PENDING_TRANSFER_ALREADY_VOIDED; EXPIRED: PENDING_TRANSFER_EXPIRED.
        i. p's timeout_seconds > 0 and p.created_at + timeout_seconds <= now:
           PENDING_TRANSFER_EXPIRED.
     8. debit is None: DEBIT_ACCOUNT_NOT_FOUND.
     9. credit is None: CREDIT_ACCOUNT_NOT_FOUND.
    10. debit.currency != credit.currency: ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY.
    11. currency != debit.currency: TRANSFER_CURRENCY_MUST_MATCH_ACCOUNTS.
    12. Not post/void (the pending funds of a post were reserved when it was created):
        a. debit has DEBITS_MUST_NOT_EXCEED_CREDITS and
           debit.debits_pending + debit.debits_posted + amount_minor > debit.credits_posted:
           INSUFFICIENT_FUNDS.
        b. credit has CREDITS_MUST_NOT_EXCEED_DEBITS and
           credit.credits_pending + credit.credits_posted + amount_minor > credit.debits_posted:
           EXCEEDS_DEBITS.
    13. OK.

    Raises ValueError only for inconsistent arguments (a naive `now`, or lookups that do not
    match the ids they were looked up by): those are bugs, not outcomes.
    """
    _require_aware(now, "now")
    _require_lookups_match(transfer, existing=existing, pending=pending, debit=debit, credit=credit)

    # 1. Idempotency first, so that a retry is answered the same way forever.
    if existing is not None:
        return _exists_outcome(transfer, existing.transfer)

    # 2-6. The transfer on its own.
    if int(transfer.flags & _TRANSFER_KIND_FLAGS).bit_count() > 1:
        return TransferOutcome.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if transfer.amount_minor <= 0:
        return TransferOutcome.AMOUNT_MUST_BE_POSITIVE
    if transfer.debit_account_id == transfer.credit_account_id:
        return TransferOutcome.ACCOUNTS_MUST_BE_DIFFERENT
    post_or_void = transfer.is_post_or_void
    if post_or_void and transfer.pending_id is None:
        return TransferOutcome.PENDING_ID_REQUIRED
    if not post_or_void and transfer.pending_id is not None:
        return TransferOutcome.PENDING_ID_MUST_BE_EMPTY
    if TransferFlags.PENDING not in transfer.flags and transfer.timeout_seconds != 0:
        return TransferOutcome.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER

    # 7. A post or void must match the reservation it settles, and that reservation must be live.
    if post_or_void:
        if pending is None:
            return TransferOutcome.PENDING_TRANSFER_NOT_FOUND
        reserved = pending.transfer
        if TransferFlags.PENDING not in reserved.flags:
            return TransferOutcome.PENDING_TRANSFER_NOT_PENDING
        if transfer.debit_account_id != reserved.debit_account_id:
            return TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
        if transfer.credit_account_id != reserved.credit_account_id:
            return TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
        if transfer.currency != reserved.currency:
            return TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY
        if transfer.amount_minor > reserved.amount_minor:
            return TransferOutcome.EXCEEDS_PENDING_TRANSFER_AMOUNT
        is_void = TransferFlags.VOID_PENDING_TRANSFER in transfer.flags
        if is_void and transfer.amount_minor != reserved.amount_minor:
            return TransferOutcome.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        if pending.pending_status is PendingStatus.POSTED:
            return TransferOutcome.PENDING_TRANSFER_ALREADY_POSTED
        if pending.pending_status is PendingStatus.VOIDED:
            return TransferOutcome.PENDING_TRANSFER_ALREADY_VOIDED
        if pending.pending_status is PendingStatus.EXPIRED or is_expired(pending, now):
            return TransferOutcome.PENDING_TRANSFER_EXPIRED

    # 8-11. The accounts.
    if debit is None:
        return TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND
    if credit is None:
        return TransferOutcome.CREDIT_ACCOUNT_NOT_FOUND
    if debit.currency != credit.currency:
        return TransferOutcome.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY
    if transfer.currency != debit.currency:
        return TransferOutcome.TRANSFER_CURRENCY_MUST_MATCH_ACCOUNTS

    # 12. Balance floors. Settling a reservation never needs new funds: a post moves at most the
    # reserved amount from pending to posted and a void releases it.
    if not post_or_void:
        amount_minor = transfer.amount_minor
        if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in debit.flags and (
            debit.debits_pending + debit.debits_posted + amount_minor > debit.credits_posted
        ):
            return TransferOutcome.INSUFFICIENT_FUNDS
        if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in credit.flags and (
            credit.credits_pending + credit.credits_posted + amount_minor > credit.debits_posted
        ):
            return TransferOutcome.EXCEEDS_DEBITS

    return TransferOutcome.OK


def _require_lookups_match(
    transfer: Transfer,
    *,
    existing: StoredTransfer | None,
    pending: StoredTransfer | None,
    debit: Account | None,
    credit: Account | None,
) -> None:
    # Feeding decide() the wrong rows would make it answer a different question, silently.
    if existing is not None and existing.transfer.id != transfer.id:
        raise ValueError(f"existing is {existing.transfer.id!r}, not {transfer.id!r}")
    if pending is not None and pending.transfer.id != transfer.pending_id:
        raise ValueError(f"pending is {pending.transfer.id!r}, not {transfer.pending_id!r}")
    if debit is not None and debit.id != transfer.debit_account_id:
        raise ValueError(f"debit is {debit.id!r}, not {transfer.debit_account_id!r}")
    if credit is not None and credit.id != transfer.credit_account_id:
        raise ValueError(f"credit is {credit.id!r}, not {transfer.credit_account_id!r}")


def apply(
    transfer: Transfer,
    *,
    debit: Account,
    credit: Account,
    pending: StoredTransfer | None,
) -> tuple[Account, Account]:
    """Return the (debit, credit) accounts after `transfer`, which `decide` answered OK.

    Plain: adds the amount to debits_posted and credits_posted. Pending: to debits_pending and
    credits_pending. Post: removes the reserved amount from *_pending and adds the posted amount
    (at most the reserved one) to *_posted. Void: removes the reserved amount from *_pending.
    Raises LedgerInvariantViolated if the arguments could not have been decided OK.
    """
    _require(debit.id == transfer.debit_account_id, "debit is not the transfer's debit account")
    _require(credit.id == transfer.credit_account_id, "credit is not the transfer's credit account")
    _require(debit.id != credit.id, "a transfer needs two different accounts")
    _require(
        debit.currency == credit.currency == transfer.currency,
        "transfer and accounts must share one currency",
    )
    _require(transfer.amount_minor > 0, "a transfer amount must be positive")
    amount_minor = transfer.amount_minor

    if transfer.is_post_or_void:
        if pending is None:
            raise LedgerInvariantViolated("a post or void needs its pending transfer")
        reserved = pending.transfer
        _require(reserved.id == transfer.pending_id, "pending is not the transfer's pending_id")
        _require(pending.pending_status is PendingStatus.PENDING, "pending transfer is not live")
        _require(
            reserved.debit_account_id == debit.id and reserved.credit_account_id == credit.id,
            "a post or void must settle between the reserved accounts",
        )
        _require(amount_minor <= reserved.amount_minor, "cannot post more than was reserved")
        posted_minor = amount_minor if TransferFlags.POST_PENDING_TRANSFER in transfer.flags else 0
        new_debit = replace(
            debit,
            debits_pending=debit.debits_pending - reserved.amount_minor,
            debits_posted=debit.debits_posted + posted_minor,
        )
        new_credit = replace(
            credit,
            credits_pending=credit.credits_pending - reserved.amount_minor,
            credits_posted=credit.credits_posted + posted_minor,
        )
    elif TransferFlags.PENDING in transfer.flags:
        new_debit = replace(debit, debits_pending=debit.debits_pending + amount_minor)
        new_credit = replace(credit, credits_pending=credit.credits_pending + amount_minor)
    else:
        new_debit = replace(debit, debits_posted=debit.debits_posted + amount_minor)
        new_credit = replace(credit, credits_posted=credit.credits_posted + amount_minor)

    # Check before writing: a result that breaks a floor means decide() was skipped or wrong.
    check_account_invariants(new_debit)
    check_account_invariants(new_credit)
    return new_debit, new_credit


def expire_pending(
    pending: StoredTransfer,
    *,
    debit: Account,
    credit: Account,
    now: datetime,
) -> tuple[StoredTransfer, Account, Account]:
    """Release an expired reservation: the same balances as a void, status EXPIRED.

    Without this, the funds of a pending transfer whose timeout passed would stay reserved
    forever, since it can no longer be posted or voided. Returns the updated pending transfer and
    (debit, credit) accounts. Raises LedgerInvariantViolated unless `is_expired(pending, now)`.
    """
    _require(is_expired(pending, now), f"transfer {pending.transfer.id!r} has not expired")
    reserved = pending.transfer
    _require(
        reserved.debit_account_id == debit.id and reserved.credit_account_id == credit.id,
        "expire_pending needs the reserved transfer's own accounts",
    )
    new_debit = replace(debit, debits_pending=debit.debits_pending - reserved.amount_minor)
    new_credit = replace(credit, credits_pending=credit.credits_pending - reserved.amount_minor)
    check_account_invariants(new_debit)
    check_account_invariants(new_credit)
    return replace(pending, pending_status=PendingStatus.EXPIRED), new_debit, new_credit


def check_account_invariants(account: Account) -> None:
    """Raise LedgerInvariantViolated unless every total is >= 0 and the flags' floor holds."""
    _require(is_supported_currency(account.currency), f"{account.id}: unsupported currency")
    for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted"):
        value = getattr(account, name)
        _require(value >= 0, f"{account.id}: {name} is negative ({value})")
    if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in account.flags:
        _require(
            account.debits_pending + account.debits_posted <= account.credits_posted,
            f"{account.id}: debits exceed credits (available {account.available})",
        )
    if AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in account.flags:
        _require(
            account.credits_pending + account.credits_posted <= account.debits_posted,
            f"{account.id}: credits exceed debits",
        )


def check_ledger_invariants(accounts: Iterable[Account]) -> None:
    """Check every account, then that each currency's books balance.

    Per currency, the sums of (credits_posted - debits_posted) and of
    (credits_pending - debits_pending) over all accounts must both be zero: every transfer
    credits exactly what it debits. Account ids must be unique.
    """
    posted_net_minor: defaultdict[str, int] = defaultdict(int)
    pending_net_minor: defaultdict[str, int] = defaultdict(int)
    seen_ids: set[str] = set()
    for account in accounts:
        _require(account.id not in seen_ids, f"account {account.id!r} appears twice")
        seen_ids.add(account.id)
        check_account_invariants(account)
        posted_net_minor[account.currency] += account.credits_posted - account.debits_posted
        pending_net_minor[account.currency] += account.credits_pending - account.debits_pending
    for currency, net_minor in sorted(posted_net_minor.items()):
        _require(net_minor == 0, f"{currency}: posted credits and debits differ by {net_minor}")
    for currency, net_minor in sorted(pending_net_minor.items()):
        _require(net_minor == 0, f"{currency}: pending credits and debits differ by {net_minor}")


class HistoryCause(str, enum.Enum):
    """Why an account's balances changed, as its history entry records it."""

    TRANSFER = "transfer"
    # The expiry sweep released a reservation whose timeout passed.
    EXPIRY = "expiry"
    # Balances the account held before the history began (written once, by the migration).
    OPENING = "opening"


@dataclass(frozen=True, slots=True)
class AccountHistoryEntry:
    """An account's balances right after one change: TigerBeetle's account balances.

    Entries are append-only, one per account per change, numbered 1, 2, … per account by
    `sequence`; the newest entry always equals the account's current balances.
    """

    account_id: str
    sequence: int
    transfer_id: str | None
    cause: HistoryCause
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    created_at: datetime

    def __post_init__(self) -> None:
        _require_str(self.account_id, "account_id")
        _require_int(self.sequence, "sequence")
        if self.sequence < 1:
            raise ValueError(f"sequence must be >= 1, got {self.sequence}")
        object.__setattr__(self, "cause", HistoryCause(self.cause))
        if (self.transfer_id is None) != (self.cause is HistoryCause.OPENING):
            raise ValueError("transfer_id names the transfer of every entry but an opening one")
        for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted"):
            _require_int(getattr(self, name), name)
        _require_aware(self.created_at, "created_at")

    def balances(self) -> tuple[int, int, int, int]:
        """(debits_pending, debits_posted, credits_pending, credits_posted)."""
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


def account_balances(account: Account) -> tuple[int, int, int, int]:
    """(debits_pending, debits_posted, credits_pending, credits_posted) of `account`."""
    return (
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    )


def check_batch_size(transfers: Sequence[Transfer]) -> None:
    """Raise ValueError unless the batch holds at most TRANSFER_BATCH_MAX transfers."""
    if len(transfers) > TRANSFER_BATCH_MAX:
        raise ValueError(f"a batch holds at most {TRANSFER_BATCH_MAX} transfers, got {len(transfers)}")
    for transfer in transfers:
        if not isinstance(transfer, Transfer):
            raise TypeError(f"a batch holds Transfers, got {transfer!r}")


_Savepoint = TypeVar("_Savepoint")


def create_transfers_in_chains(
    transfers: Sequence[Transfer],
    *,
    create: Callable[[Transfer], TransferOutcome],
    savepoint: Callable[[], _Savepoint],
    rollback_to: Callable[[_Savepoint], None],
) -> list[TransferOutcome]:
    """Create a batch in order, honouring LINKED chains; one outcome per transfer, in order.

    `create` creates one transfer against the state left by the ones before it. A chain is a run
    of LINKED transfers plus the first transfer after them that is not LINKED; it succeeds or
    fails as a whole, as in TigerBeetle:

    - when a member fails, the state goes back to `savepoint()` taken at the chain's start; the
      failing member keeps its own outcome, every other member becomes LINKED_EVENT_FAILED, and
      members after the failure are not tried;
    - when the batch's last transfer is LINKED, the chain never closes: that transfer is
      LINKED_EVENT_CHAIN_OPEN and the chain fails.

    One difference from TigerBeetle, so that a retried chain reads as a retry: EXISTS does not
    fail a chain. A chain sent again after it committed answers EXISTS for every member.
    """
    check_batch_size(transfers)
    outcomes: list[TransferOutcome] = []
    last_index = len(transfers) - 1
    chain_start: int | None = None
    chain_savepoint: _Savepoint | None = None
    chain_broken = False
    for index, transfer in enumerate(transfers):
        linked = TransferFlags.LINKED in transfer.flags
        if linked and chain_start is None:
            chain_start, chain_savepoint, chain_broken = index, savepoint(), False
        if linked and index == last_index:
            outcome = TransferOutcome.LINKED_EVENT_CHAIN_OPEN
        elif chain_broken:
            outcome = TransferOutcome.LINKED_EVENT_FAILED
        else:
            outcome = create(transfer)
        if not outcome.ok_or_exists and chain_start is not None and not chain_broken:
            chain_broken = True
            rollback_to(chain_savepoint)  # type: ignore[arg-type]
            for earlier in range(chain_start, index):
                outcomes[earlier] = TransferOutcome.LINKED_EVENT_FAILED
        outcomes.append(outcome)
        if chain_start is not None and (not linked or index == last_index):
            chain_start, chain_savepoint, chain_broken = None, None, False
    return outcomes


class InMemoryLedger:
    """The reference ledger: decide() and apply() over two dicts, with each account's history.

    Property tests run it, and a differential test runs the SQL ledger against it. Expected
    refusals come back as TransferOutcome values; only bugs raise.
    """

    def __init__(self) -> None:
        # dicts keep insertion order, which keeps accounts() and expiry deterministic.
        self._accounts: dict[str, Account] = {}
        self._transfers: dict[str, StoredTransfer] = {}
        # Every account's history, oldest first, and all entries in the order they were made.
        self._history: dict[str, list[AccountHistoryEntry]] = {}
        self._journal: list[AccountHistoryEntry] = []
        # Per account, how many entries came before the ones held here (see holding()).
        self._sequence_offsets: dict[str, int] = {}

    @classmethod
    def holding(
        cls,
        accounts: Iterable[Account],
        transfers: Iterable[StoredTransfer],
        *,
        history_sequences: dict[str, int],
    ) -> InMemoryLedger:
        """A ledger that starts from part of a stored one, balances included.

        A SQL ledger loads the rows a batch touches into one of these, runs the batch here and
        writes back what changed. `history_sequences` gives each account's latest history
        sequence, so that new entries continue its numbering.
        """
        ledger = cls()
        for account in accounts:
            check_account_invariants(account)
            ledger._accounts[account.id] = account
            ledger._history[account.id] = []
            ledger._sequence_offsets[account.id] = history_sequences[account.id]
        for stored in transfers:
            ledger._transfers[stored.transfer.id] = stored
        return ledger

    def create_account(self, account: Account) -> bool:
        """Store a new, empty account; False if its id is already taken."""
        if account.id in self._accounts:
            return False
        # An account born with balances would unbalance its currency's books.
        if account.debits_pending or account.debits_posted or account.credits_pending or account.credits_posted:
            raise ValueError(f"account {account.id!r} must be created with zero balances")
        check_account_invariants(account)
        self._accounts[account.id] = account
        self._history[account.id] = []
        return True

    def account(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        return self._accounts.get(account_id)

    def transfer(self, transfer_id: str) -> StoredTransfer | None:
        """The stored transfer with this id, or None."""
        return self._transfers.get(transfer_id)

    def accounts(self) -> list[Account]:
        """Every account, in creation order."""
        return list(self._accounts.values())

    def transfers(self) -> list[StoredTransfer]:
        """Every stored transfer, in creation order."""
        return list(self._transfers.values())

    def account_history(self, account_id: str, *, limit: int, before: int | None = None) -> list[AccountHistoryEntry]:
        """Up to `limit` history entries of the account, newest first, below `before` if given."""
        require_history_page(limit, before)
        entries = [
            entry for entry in reversed(self._history.get(account_id, [])) if before is None or entry.sequence < before
        ]
        return entries[:limit]

    def journal(self) -> list[AccountHistoryEntry]:
        """Every history entry in the order the changes happened."""
        return list(self._journal)

    def create_transfer(self, transfer: Transfer, now: datetime) -> TransferOutcome:
        """Decide on `transfer` and, if OK, apply and store it (created_at = now).

        The batch of one: a LINKED transfer alone is LINKED_EVENT_CHAIN_OPEN.
        """
        return self.create_transfers([transfer], now)[0]

    def create_transfers(self, transfers: Sequence[Transfer], now: datetime) -> list[TransferOutcome]:
        """Create a batch in order with its LINKED chains; one outcome per transfer."""
        _require_aware(now, "now")
        return create_transfers_in_chains(
            transfers,
            create=lambda transfer: self._create_one(transfer, now),
            savepoint=self._savepoint,
            rollback_to=self._rollback_to,
        )

    def _savepoint(self) -> tuple[Any, ...]:
        # Copies of the dicts: chains are short and this ledger is a model, not a database.
        return (
            dict(self._accounts),
            dict(self._transfers),
            {account_id: len(entries) for account_id, entries in self._history.items()},
            len(self._journal),
        )

    def _rollback_to(self, savepoint: tuple[Any, ...]) -> None:
        accounts, transfers, history_lengths, journal_length = savepoint
        self._accounts = dict(accounts)
        self._transfers = dict(transfers)
        for account_id, entries in self._history.items():
            del entries[history_lengths.get(account_id, 0) :]
        del self._journal[journal_length:]

    def _record(self, account: Account, transfer_id: str, cause: HistoryCause, now: datetime) -> None:
        entries = self._history.setdefault(account.id, [])
        entry = AccountHistoryEntry(
            account_id=account.id,
            sequence=self._sequence_offsets.get(account.id, 0) + len(entries) + 1,
            transfer_id=transfer_id,
            cause=cause,
            debits_pending=account.debits_pending,
            debits_posted=account.debits_posted,
            credits_pending=account.credits_pending,
            credits_posted=account.credits_posted,
            created_at=now,
        )
        entries.append(entry)
        self._journal.append(entry)

    def _create_one(self, transfer: Transfer, now: datetime) -> TransferOutcome:
        pending = self._transfers.get(transfer.pending_id) if transfer.pending_id is not None else None
        debit = self._accounts.get(transfer.debit_account_id)
        credit = self._accounts.get(transfer.credit_account_id)
        outcome = decide(
            transfer,
            existing=self._transfers.get(transfer.id),
            pending=pending,
            debit=debit,
            credit=credit,
            now=now,
        )
        if outcome is not TransferOutcome.OK:
            return outcome
        if debit is None or credit is None:
            raise LedgerInvariantViolated("decide() answered OK without both accounts")
        new_debit, new_credit = apply(transfer, debit=debit, credit=credit, pending=pending)
        self._accounts[new_debit.id] = new_debit
        self._accounts[new_credit.id] = new_credit
        if pending is not None and transfer.is_post_or_void:
            settled = (
                PendingStatus.POSTED if TransferFlags.POST_PENDING_TRANSFER in transfer.flags else PendingStatus.VOIDED
            )
            self._transfers[pending.transfer.id] = replace(pending, pending_status=settled)
        self._transfers[transfer.id] = StoredTransfer(
            transfer=transfer,
            pending_status=(PendingStatus.PENDING if TransferFlags.PENDING in transfer.flags else None),
            created_at=now,
        )
        # Debit first, then credit: the order the SQL ledger writes them in.
        self._record(new_debit, transfer.id, HistoryCause.TRANSFER, now)
        self._record(new_credit, transfer.id, HistoryCause.TRANSFER, now)
        return TransferOutcome.OK

    def expire_pending_transfers(self, now: datetime) -> list[str]:
        """Release every reservation whose timeout has passed; return their ids in the order
        released: soonest expiry first, then by id (the SQL ledger's order)."""
        expired_ids = sorted(
            (transfer_id for transfer_id, stored in self._transfers.items() if is_expired(stored, now)),
            key=lambda transfer_id: (_expires_at(self._transfers[transfer_id]), transfer_id),
        )
        for transfer_id in expired_ids:
            stored = self._transfers[transfer_id]
            updated, new_debit, new_credit = expire_pending(
                stored,
                debit=self._accounts[stored.transfer.debit_account_id],
                credit=self._accounts[stored.transfer.credit_account_id],
                now=now,
            )
            self._transfers[transfer_id] = updated
            self._accounts[new_debit.id] = new_debit
            self._accounts[new_credit.id] = new_credit
            self._record(new_debit, transfer_id, HistoryCause.EXPIRY, now)
            self._record(new_credit, transfer_id, HistoryCause.EXPIRY, now)
        return expired_ids


def _expires_at(stored: StoredTransfer) -> datetime:
    return stored.created_at + timedelta(seconds=stored.transfer.timeout_seconds)


def check_history_matches(account: Account, newest: AccountHistoryEntry | None) -> None:
    """Raise LedgerInvariantViolated unless the newest history entry holds the account's balances.

    An account that never changed has no history, and all its balances are zero.
    """
    expected = account_balances(account)
    found = (0, 0, 0, 0) if newest is None else newest.balances()
    _require(
        newest is None or newest.account_id == account.id,
        f"{account.id}: history entry of {newest.account_id if newest else None!r}",
    )
    _require(found == expected, f"{account.id}: history ends at {found}, balances are {expected}")


# Pages of history are bounded like every list the platform serves.
HISTORY_PAGE_MAX = 1000


def require_history_page(limit: int, before: int | None) -> None:
    """Raise ValueError unless 1 <= limit <= HISTORY_PAGE_MAX and `before` is a sequence >= 1."""
    _require_int(limit, "limit")
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise ValueError(f"limit must be between 1 and {HISTORY_PAGE_MAX}, got {limit}")
    if before is not None:
        _require_int(before, "before")
        if before < 1:
            raise ValueError(f"before must be >= 1, got {before}")
