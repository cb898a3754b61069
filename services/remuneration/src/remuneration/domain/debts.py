"""Debts: money a trainee owes back once no later pay can offset it (docs/remuneration.md, "Debts").

Pure rules: what a repayment may be and where it leaves the debt. The ledger (domain.ledger,
`transfer_to_debt`) decides when an overpayment or an unrecovered advance becomes a debt.
"""

from __future__ import annotations

from decimal import Decimal

from remuneration.domain.money import ZERO, euros
from remuneration.domain.states import DebtState


class RepaymentRefused(ValueError):
    """A repayment that cannot be recorded; `field` names the part of the request at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def after_repayment(balance: Decimal, repaid: Decimal) -> DebtState:
    """The debt's state once `repaid` is taken from `balance` (never more than what is owed)."""
    if repaid <= ZERO:
        raise RepaymentRefused("body.amount", "a repayment is a positive amount")
    if repaid > balance:
        raise RepaymentRefused("body.amount", f"{euros(repaid)} is more than the {euros(balance)} still owed")
    return DebtState.REPAID if repaid == balance else DebtState.PARTLY_REPAID
