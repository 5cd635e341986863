"""Typed host changes and the record of what was applied, so that it can be undone.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
