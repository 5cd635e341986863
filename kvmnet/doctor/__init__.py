"""Host checks: the firewalls and settings kvmnet shares the host with (``kvmnet doctor``,
``kvmnet watch``).

model (frozen data), readers (iptables-save, nft JSON and traces, pure), gather (reads the
host), probe (traced test packets), checks (findings, pure), run (diagnose, fix, undo), watch.
"""
