"""Definitions at rest: the store, the claim index, define, validation and net-update.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
