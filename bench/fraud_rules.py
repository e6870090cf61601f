"""Benchmark: how well the fraud rules catch the injected fraud of bench/fraud_dataset.py, and
how many normal payments they stop, against a baseline of the amount and velocity rules alone,
measured in the same run on the same data.

The data set is replayed in time order. For each payment the bench keeps the history that
score-fraud reads from the database (the payer's payments in the velocity window, whether the
payer paid this payee before, the payee's distinct payers in the fan-in window, the payer's
round amounts in the burst window, the payer's earlier payees' countries) and builds the same
`PaymentFacts`, then calls the platform's own `shared.domain.fraud.assess` with the default
thresholds. Amounts are in US dollars (the data set's currency). A payment counts as caught when
it is held for review or declined; every payment joins the history whatever its outcome, as
payments do in the database.

    .venv/bin/python bench/fraud_rules.py [--seed 7] [--days 7] [--warm-up-days 1]

The replay starts with an empty history, which no live platform has: the first day's payments
(`--warm-up-days`) only build it and are not counted.

Targets: at least 90% of the injected fraud held or declined; at most 2% of normal payments.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict, deque
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fraud_dataset import Payment, User, generate  # noqa: E402

from shared.domain.fraud import WEIGHTED_REASONS, FraudDecision, FraudRules, PaymentFacts, assess  # noqa: E402
from shared.domain.money import Money  # noqa: E402

RECALL_TARGET = 0.90
FALSE_POSITIVE_TARGET = 0.02
# The payer's latest payments whose payees' countries make the history (as score-fraud reads).
COUNTRY_HISTORY_PAYMENTS_MAX = 100


class History:
    """What the database would hold about earlier payments, kept in memory for the replay."""

    def __init__(self) -> None:
        self.payer_times: dict[str, deque[float]] = defaultdict(deque)
        self.payer_round: dict[str, deque[float]] = defaultdict(deque)
        self.payee_payers: dict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self.pairs: set[tuple[str, str]] = set()
        self.payer_payees: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=COUNTRY_HISTORY_PAYMENTS_MAX))
        self.payer_count: Counter[str] = Counter()

    @staticmethod
    def _trim(times: deque, since: float) -> None:
        while times and (times[0][0] if isinstance(times[0], tuple) else times[0]) < since:
            times.popleft()

    def facts(self, payment: Payment, users: dict[str, User], rules: FraudRules) -> PaymentFacts:
        payer, payee = users[payment.payer], users[payment.payee]
        now = payment.at
        times = self.payer_times[payer.id]
        self._trim(times, now - rules.velocity_window_seconds)
        rounds = self.payer_round[payer.id]
        self._trim(rounds, now - rules.round_burst_window_seconds)
        payers = self.payee_payers[payee.id]
        self._trim(payers, now - rules.fan_in_window_seconds)
        recent_countries = {users[other].country for other in self.payer_payees[payer.id]}
        amount = Money(payment.amount_cents, "USD")
        return PaymentFacts(
            amount=amount,
            amount_usd_minor=payment.amount_cents,
            payments_in_window=len(times) + 1,
            account_age_seconds=int(now - payer.created_at),
            paid_payee_before=(payer.id, payee.id) in self.pairs,
            payee_age_seconds=int(now - payee.created_at),
            payee_payers_in_window=len({who for _, who in payers} | {payer.id}),
            round_payments_in_window=len(rounds),
            payee_frozen=payee.frozen,
            payee_under_review=payee.under_review,
            payer_country=payer.country,
            payee_country=payee.country,
            payer_prior_payments=min(self.payer_count[payer.id], COUNTRY_HISTORY_PAYMENTS_MAX),
            payee_country_paid_before=payee.country in recent_countries,
            sanctions_match=payee.sanctioned,
        )

    def add(self, payment: Payment, rules: FraudRules) -> None:
        self.payer_times[payment.payer].append(payment.at)
        if payment.amount_cents % (rules.round_amount_major * 100) == 0:
            self.payer_round[payment.payer].append(payment.at)
        self.payee_payers[payment.payee].append((payment.at, payment.payer))
        self.pairs.add((payment.payer, payment.payee))
        self.payer_payees[payment.payer].append(payment.payee)
        self.payer_count[payment.payer] += 1


def baseline_of(facts: PaymentFacts) -> PaymentFacts:
    """The facts the amount and velocity rules alone see (the new-account rule is one of them)."""
    return replace(facts, sanctions_match=False, payee_frozen=False)


def measure(users: dict[str, User], payments: list[Payment], rules: FraudRules, *, counted_from: float = 0.0) -> dict:
    no_points = replace(rules, **{name: 0 for name in WEIGHTED_REASONS.values()})
    history = History()
    caught: dict[str, Counter[str]] = {"rules": Counter(), "baseline": Counter()}
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for payment in payments:
        facts = history.facts(payment, users, rules)
        full = assess(facts, rules)
        base = assess(baseline_of(facts), no_points)
        if payment.at < counted_from:  # the warm-up: history only, as a database holds it
            history.add(payment, rules)
            continue
        totals[payment.label] += 1
        if full.decision is not FraudDecision.APPROVE:
            caught["rules"][payment.label] += 1
            if payment.label != "normal":
                reasons.update(reason.value for reason in full.reasons)
        if base.decision is not FraudDecision.APPROVE:
            caught["baseline"][payment.label] += 1
        history.add(payment, rules)
    fraud_total = sum(count for label, count in totals.items() if label != "normal")
    result = {"totals": totals, "caught": caught, "reasons": reasons}
    for name, counts in caught.items():
        fraud_caught = sum(count for label, count in counts.items() if label != "normal")
        result[f"{name}_recall"] = fraud_caught / fraud_total
        result[f"{name}_false_positive_rate"] = counts["normal"] / totals["normal"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument(
        "--warm-up-days",
        type=int,
        default=1,
        help="the first days only build history (a live database has its users' past); not counted",
    )
    args = parser.parse_args()
    users, payments = generate(args.seed, args.days)
    result = measure(users, payments, FraudRules(), counted_from=args.warm_up_days * 86400)
    totals, caught = result["totals"], result["caught"]
    print(
        f"data set: seed {args.seed}, {args.days} days, {len(users)} users, {len(payments)} payments, "
        f"the first {args.warm_up_days} day(s) history only"
    )
    print(f"{'label':<22}{'payments':>10}{'rules':>10}{'baseline':>10}")
    for label in sorted(totals, key=lambda name: (name != "normal", name)):
        total = totals[label]
        print(
            f"{label:<22}{total:>10}{caught['rules'][label] / total:>10.1%}{caught['baseline'][label] / total:>10.1%}"
        )
    recall, fpr = result["rules_recall"], result["rules_false_positive_rate"]
    base_recall, base_fpr = result["baseline_recall"], result["baseline_false_positive_rate"]
    print(
        f"injected fraud held or declined: {recall:.1%} (baseline {base_recall:.1%}; ratio {recall / base_recall:.2f})"
    )
    print(f"normal payments held or declined: {fpr:.2%} (baseline {base_fpr:.2%})")
    print(
        "reasons on caught fraud:", ", ".join(f"{reason} {count}" for reason, count in result["reasons"].most_common())
    )
    met = recall >= RECALL_TARGET and fpr <= FALSE_POSITIVE_TARGET
    verdict = "met" if met else "NOT met"
    print(f"targets (recall >= {RECALL_TARGET:.0%}, false positives <= {FALSE_POSITIVE_TARGET:.0%}): {verdict}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
