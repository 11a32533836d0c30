"""Loan servicing: the life of a plan after purchase, one API for every caller.

The checkout applies the first payment through it, collections charge and settle installments
through it, and the consumer portal pays now, pays early and pays off through it.

- ``locks``: the order rows are locked in (the order, then its plan), written once.
- ``charges``: the one way to prepare a charge against a plan, with its idempotency-key scheme.
- ``services``: pay now, pay early / pay off, applying a settled payment (and the sweep for ones
  nobody applied), forgiving unearned interest on a payoff.
- ``selectors``: what pays a plan off today (interest only as earned).
- ``accounting``: the journal entries of a plan's life: payments, late fees, charge-off, and a
  consumer balance's refused refunds and payouts.
- ``balances``: refused refunds become the consumer's balance, applied to what falls due.
- ``actions``: what a consumer asks for themselves: move a due date, hardship help.
"""
