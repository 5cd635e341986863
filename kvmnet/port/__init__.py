"""Guest ports: allocation, plug/unplug orchestration, keeping ports across a network restart.

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
