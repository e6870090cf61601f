"""A labelled synthetic data set of payments for measuring the fraud rules: normal traffic with
fraud patterns injected, every record in time order, from a seed (the same seed, the same set).

Each pattern is generated from a written description of how that fraud behaves, not from any
rule's threshold (the generator imports nothing from the rules):

normal
    Established users (accounts 30 days to 4 years old, most in the US, the rest spread over
    eight countries) pay a circle of three to eight regular payees, mostly in their own country;
    now and then a new payee (about one payment in eight), rarely abroad. Amounts are log-normal
    around 40 USD; about one payment in twelve is a round sum (rent, a share of a bill: 100 to
    1,000 USD). Popular merchants, old accounts, receive from hundreds of payers. New users
    join throughout the week and make a few small first payments to people they never paid.
mule_collection
    A mule account opened in the last few days collects from many unrelated victims (investment
    and romance scams) within about an hour; each victim, an established user, pays it once,
    80 to 900 USD.
account_takeover
    A hijacked established account sends its balance out in three to six round sums of 500 to
    2,500 USD within half an hour, each to a different payee abroad it never paid.
new_account_cash_out
    An account opened hours ago with stolen cards pays out 800 to 4,000 USD in two to four
    round transfers within minutes, to one or two payees it never paid.
frozen_mule
    Victims keep paying a mule account after support froze it, 50 to 600 USD each.
sanctions_evasion
    Payments of 100 to 5,000 USD to a party on the sanctions list, signed up under one of the
    list's own spellings.

    .venv/bin/python bench/fraud_dataset.py [--seed 7] [--days 7] [--out dataset.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import asdict, dataclass

__all__ = ["Payment", "User", "generate"]

DAY_SECONDS = 86400
COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "CA", "NL", "MX")
COUNTRY_WEIGHTS = (50, 10, 8, 7, 5, 5, 6, 4, 5)
ABROAD = ("NG", "RU", "AE", "TR", "PH", "BR", "IN", "UA")
NORMAL_PAYMENTS_PER_DAY = 4000
ESTABLISHED_USERS = 3000
MERCHANTS = 40
NEW_USERS_PER_DAY = 60


@dataclass(frozen=True)
class User:
    id: str
    created_at: float  # seconds since the data set's start; negative: before it
    country: str
    frozen: bool = False
    sanctioned: bool = False
    under_review: bool = False


@dataclass(frozen=True)
class Payment:
    id: str
    at: float
    payer: str
    payee: str
    amount_cents: int
    label: str  # "normal" or the pattern's name


def _normal_amount(rng: random.Random) -> int:
    if rng.random() < 1 / 12:
        return rng.choice((100, 150, 200, 250, 300, 500, 600, 800, 1000)) * 100
    return max(100, int(math.exp(rng.gauss(math.log(40), 1.0)) * 100))


def generate(seed: int = 7, days: int = 7) -> tuple[dict[str, User], list[Payment]]:
    """Users by id and payments in time order."""
    rng = random.Random(seed)
    users: dict[str, User] = {}
    payments: list[Payment] = []
    counter = iter(range(10**9))

    def user(created_at: float, country: str, **flags: bool) -> User:
        made = User(id=f"u{next(counter)}", created_at=created_at, country=country, **flags)
        users[made.id] = made
        return made

    def pay(at: float, payer: User, payee: User, cents: int, label: str) -> None:
        payments.append(Payment(f"p{next(counter)}", at, payer.id, payee.id, cents, label))

    established = [
        user(-rng.uniform(30, 4 * 365) * DAY_SECONDS, rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0])
        for _ in range(ESTABLISHED_USERS)
    ]
    merchants = [user(-rng.uniform(200, 2000) * DAY_SECONDS, "US") for _ in range(MERCHANTS)]
    by_country: dict[str, list[User]] = {}
    for person in established:
        by_country.setdefault(person.country, []).append(person)
    circles = {}
    for person in established:
        local = by_country[person.country]
        circle = [rng.choice(local) for _ in range(rng.randint(3, 8))]
        if rng.random() < 0.2:
            circle.append(rng.choice(established))
        circles[person.id] = [friend for friend in circle if friend.id != person.id] or [rng.choice(merchants)]
    horizon = days * DAY_SECONDS

    # --- normal traffic
    for _ in range(NORMAL_PAYMENTS_PER_DAY * days):
        at = rng.uniform(0, horizon)
        payer = rng.choice(established)
        draw = rng.random()
        if draw < 0.2:
            payee = rng.choice(merchants)
        elif draw < 0.87:
            payee = rng.choice(circles[payer.id])
        else:
            abroad = rng.random() < 0.1
            pool = established if abroad else by_country[payer.country]
            payee = rng.choice(pool)
            if payee.id == payer.id:
                continue
            circles[payer.id].append(payee)
        pay(at, payer, payee, _normal_amount(rng), "normal")
    for _ in range(NEW_USERS_PER_DAY * days):
        joined = rng.uniform(0, horizon)
        newcomer = user(joined, rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0])
        friends = rng.sample(by_country[newcomer.country], 3)
        for index in range(rng.randint(1, 4)):
            at = joined + rng.uniform(60, 3 * DAY_SECONDS) + index
            pay(min(at, horizon), newcomer, rng.choice(friends), max(100, int(rng.uniform(5, 60) * 100)), "normal")

    # --- injected fraud
    for _ in range(6 * days):  # mule collection
        start = rng.uniform(0, horizon - 3600)
        mule = user(start - rng.uniform(0.2, 5) * DAY_SECONDS, rng.choice(COUNTRIES))
        for victim in rng.sample(established, rng.randint(8, 30)):
            pay(start + rng.uniform(0, 3600), victim, mule, rng.randint(80, 900) * 100, "mule_collection")
    for _ in range(5 * days):  # account takeover
        start = rng.uniform(0, horizon - 1800)
        victim = rng.choice(established)
        for _ in range(rng.randint(3, 6)):
            receiver = user(start - rng.uniform(1, 60) * DAY_SECONDS, rng.choice(ABROAD))
            cents = rng.randint(5, 25) * 100 * 100
            pay(start + rng.uniform(0, 1800), victim, receiver, cents, "account_takeover")
    for _ in range(5 * days):  # new-account cash-out
        start = rng.uniform(0, horizon - 600)
        fresh = user(start - rng.uniform(0.5, 10) * 3600, rng.choice(COUNTRIES))
        receivers = [user(start - rng.uniform(1, 30) * DAY_SECONDS, rng.choice(COUNTRIES)) for _ in range(2)]
        for _ in range(rng.randint(2, 4)):
            cents = rng.randint(8, 40) * 100 * 100
            pay(start + rng.uniform(0, 600), fresh, rng.choice(receivers), cents, "new_account_cash_out")
    for _ in range(2 * days):  # a frozen mule still being paid
        start = rng.uniform(0, horizon - 7200)
        frozen = user(start - rng.uniform(1, 20) * DAY_SECONDS, rng.choice(COUNTRIES), frozen=True)
        for victim in rng.sample(established, rng.randint(2, 6)):
            pay(start + rng.uniform(0, 7200), victim, frozen, rng.randint(50, 600) * 100, "frozen_mule")
    for _ in range(days):  # sanctions evasion
        listed = user(-rng.uniform(1, 300) * DAY_SECONDS, rng.choice(COUNTRIES), sanctioned=True)
        for payer in rng.sample(established, rng.randint(1, 4)):
            pay(rng.uniform(0, horizon), payer, listed, rng.randint(100, 5000) * 100, "sanctions_evasion")

    payments.sort(key=lambda payment: (payment.at, payment.id))
    return users, payments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--out", default="-", help="JSON Lines: users first, then payments (default: stdout)")
    args = parser.parse_args()
    users, payments = generate(args.seed, args.days)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    with out:
        for made in users.values():
            out.write(json.dumps({"user": asdict(made)}) + "\n")
        for payment in payments:
            out.write(json.dumps({"payment": asdict(payment)}) + "\n")


if __name__ == "__main__":
    main()
