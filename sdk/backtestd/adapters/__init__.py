"""Adapters that run strategies written for other frameworks as backtestd strategies.

backtrader: a user's unchanged backtrader bot (strategy kind ``backtrader``), see
backtestd.adapters.backtrader and docs/strategies.md.
"""
