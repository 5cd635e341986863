"""One plugger per plug type (the tap on a Linux bridge now).

Imports nothing at import time, so that a cold command pays only for what it uses.
"""
