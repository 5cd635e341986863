"""Linux bridges, brctl's way.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
