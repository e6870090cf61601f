"""The sandbox payment gateway: tokenizes cards and bank accounts, charges card tokens and pays
out to bank account tokens.

It behaves like a processor's test mode: a card's test number decides how its charges end
(4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined), and a bank account's test
number how payouts to it end (000111111116 has no account at the bank, 000111111113 is
closed; any other number is paid). The number is never stored: the vault keeps a token, a keyed
fingerprint and the behaviour the number asked for. A payout is idempotent on its key: asking
again with the same key answers the first payout's result and pays nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.database import is_postgresql
from shared.adapters.tables import card_vault, payouts
from shared.ids import new_id

__all__ = [
    "CardRejected",
    "ChargeResult",
    "PayoutResult",
    "SandboxGateway",
    "TokenizedCard",
    "TokenizedBankAccount",
    "card_brand",
    "luhn_valid",
]

APPROVE = "approve"
DECLINE = "decline"
DECLINE_INSUFFICIENT_FUNDS = "decline_insufficient_funds"
# Test numbers whose charges do not succeed, as processors' sandboxes document them.
_TEST_CARD_BEHAVIOUR = {
    "4000000000000002": DECLINE,
    "4000000000009995": DECLINE_INSUFFICIENT_FUNDS,
}
_DECLINE_CODES = {DECLINE: "card_declined", DECLINE_INSUFFICIENT_FUNDS: "insufficient_funds"}
PAYOUT_NO_ACCOUNT = "payout_no_account"
PAYOUT_ACCOUNT_CLOSED = "payout_account_closed"
# Test bank account numbers whose payouts fail, as processors' sandboxes document them.
_TEST_BANK_ACCOUNT_BEHAVIOUR = {
    "000111111116": PAYOUT_NO_ACCOUNT,
    "000111111113": PAYOUT_ACCOUNT_CLOSED,
}
_PAYOUT_FAILURE_CODES = {PAYOUT_NO_ACCOUNT: "no_account", PAYOUT_ACCOUNT_CLOSED: "account_closed"}
PAYOUT_PAID = "paid"
PAYOUT_FAILED = "failed"


class CardRejected(Exception):
    """The gateway refuses to tokenize the card (a card_error for the client)."""

    def __init__(self, code: str, message: str, param: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True)
class TokenizedCard:
    token: str
    brand: str
    last4: str


@dataclass(frozen=True)
class TokenizedBankAccount:
    token: str
    last4: str


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    decline_code: str | None


@dataclass(frozen=True)
class PayoutResult:
    payout_id: str
    paid: bool
    failure_code: str | None


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every card number carries."""
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The card network, from the number's issuer prefix."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


class SandboxGateway:
    """The sandbox processor; its vault lives in the platform's database."""

    def __init__(self, fingerprint_key: Callable[[], bytes]) -> None:
        # Read when a number is first tokenized: only the function that tokenizes holds the
        # secret it is derived from (charges and payouts use tokens alone).
        self._fingerprint_key = fingerprint_key

    def _fingerprint(self, kind: str, value: str) -> str:
        return hmac.new(self._fingerprint_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def tokenize_card(
        self, conn: Connection, *, number: str, exp_month: int, exp_year: int, now: datetime
    ) -> TokenizedCard:
        if not luhn_valid(number):
            raise CardRejected("invalid_number", "the card number is not valid", "number")
        if (exp_year, exp_month) < (now.year, now.month):
            raise CardRejected("expired_card", "the card has expired", "exp_year")
        token = new_id("tok")
        conn.execute(
            card_vault.insert().values(
                token=token,
                fingerprint=self._fingerprint("card", number),
                behaviour=_TEST_CARD_BEHAVIOUR.get(number, APPROVE),
                created_at=now,
            )
        )
        return TokenizedCard(token=token, brand=card_brand(number), last4=number[-4:])

    def tokenize_bank_account(
        self, conn: Connection, *, routing_number: str, account_number: str, now: datetime
    ) -> TokenizedBankAccount:
        token = new_id("btok")
        conn.execute(
            card_vault.insert().values(
                token=token,
                fingerprint=self._fingerprint("bank", f"{routing_number}:{account_number}"),
                behaviour=_TEST_BANK_ACCOUNT_BEHAVIOUR.get(account_number, APPROVE),
                created_at=now,
            )
        )
        return TokenizedBankAccount(token=token, last4=account_number[-4:])

    def charge(self, conn: Connection, *, token: str, amount_minor: int, currency: str) -> ChargeResult:
        """Charge a card token. The sandbox settles at once; a real gateway would be called here."""
        behaviour = conn.execute(
            sa.select(card_vault.c.behaviour).where(card_vault.c.token == token)
        ).scalar_one_or_none()
        if behaviour is None:
            raise LookupError(f"the vault has no token {token}")
        if behaviour == APPROVE:
            return ChargeResult(approved=True, decline_code=None)
        return ChargeResult(approved=False, decline_code=_DECLINE_CODES[behaviour])

    def payout(
        self,
        conn: Connection,
        *,
        token: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        now: datetime,
    ) -> PayoutResult:
        """Pay `amount_minor` out to a bank account token, once per `idempotency_key`.

        The sandbox records the payout in the caller's transaction; a second call with the same
        key (a redelivered event) answers the recorded result and pays nothing more.
        """
        query = sa.select(payouts).where(payouts.c.idempotency_key == idempotency_key)
        if is_postgresql(conn):
            query = query.with_for_update()
        done = conn.execute(query).first()
        if done is not None:
            if (done.token, done.amount_minor, done.currency) != (token, amount_minor, currency):
                raise ValueError(f"payout {idempotency_key!r} was made with different details")
            return PayoutResult(done.id, done.status == PAYOUT_PAID, done.failure_code)
        behaviour = conn.execute(
            sa.select(card_vault.c.behaviour).where(card_vault.c.token == token)
        ).scalar_one_or_none()
        if behaviour is None:
            raise LookupError(f"the vault has no token {token}")
        if behaviour not in (APPROVE, *_PAYOUT_FAILURE_CODES):
            raise ValueError(f"token {token} is not a bank account")
        failure_code = _PAYOUT_FAILURE_CODES.get(behaviour)
        result = PayoutResult(new_id("po"), failure_code is None, failure_code)
        conn.execute(
            payouts.insert().values(
                idempotency_key=idempotency_key,
                id=result.payout_id,
                token=token,
                amount_minor=amount_minor,
                currency=currency,
                status=PAYOUT_PAID if result.paid else PAYOUT_FAILED,
                failure_code=failure_code,
                created_at=now,
            )
        )
        return result
