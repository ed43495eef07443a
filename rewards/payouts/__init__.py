"""Wallets (linked with Sign-In with Ethereum) and on-chain payout runs: app label ``payouts``."""
