"""The sandbox payment gateway: tokenizes cards and bank accounts, and charges card tokens.

It behaves like a processor's test mode: a card's test number decides how its charges end
(4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined). The number is never stored:
the vault keeps a token, a keyed fingerprint and the behaviour the number asked for.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import card_vault
from shared.ids import new_id

__all__ = [
    "CardRejected",
    "ChargeResult",
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

    def __init__(self, fingerprint_key: bytes) -> None:
        self._fingerprint_key = fingerprint_key

    def _fingerprint(self, kind: str, value: str) -> str:
        return hmac.new(self._fingerprint_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

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
                behaviour=APPROVE,
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
