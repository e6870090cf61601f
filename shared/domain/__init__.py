"""The pure domain of Paystream: money, the ledger rules, the payment state machine, fraud rules.

Nothing here imports an SDK, reads the environment, calls the clock or does I/O: callers pass
`now`, ids and the current state, and get values back. That keeps every rule testable in
microseconds and the same in every function. Import from the submodules, e.g.
`from shared.domain.money import Money`.
"""

from shared.domain import fraud, ledger, money, payment

__all__ = ["fraud", "ledger", "money", "payment"]
