"""Frozen data model; imports nothing else from kvmnet."""
