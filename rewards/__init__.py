"""Reward policies, the ledger, budgets, wallets and on-chain payouts. Listens to
``annotate``'s ``item_finalized`` hook; ``annotate`` never imports this package."""
