"""Issue 11's property test: fuzzed definitions are refused cleanly or run as stored.

Mutants of every network document in libvirt's conformance corpus (tests/xmlfuzz.py:
hostile values where dnsmasq, nft or the kernel read them, and structural changes).
For each one, define either refuses with a one-line diagnosis per problem or accepts;
an accepted definition is stored, read back to the same model, compiled to the start
program net-start and net-plan use, and every distinct dnsmasq configuration (with its
hosts files) passes ``dnsmasq --test``.

Bounded and seeded: KVMNET_FUZZ_CASES (default 3000) mutants from KVMNET_FUZZ_SEED;
KVMNET_FUZZ_CONFS (default 300) configurations go through dnsmasq.
"""
from __future__ import annotations

import os
import shutil

import pytest

from tests import xmlfuzz

CASES = int(os.environ.get("KVMNET_FUZZ_CASES", "3000"))
SEED = int(os.environ.get("KVMNET_FUZZ_SEED", "11"))
CONFS = int(os.environ.get("KVMNET_FUZZ_CONFS", "300"))


def test_fuzzed_definitions_define_store_plan_and_pass_dnsmasq(conformance: object) -> None:
    if shutil.which("dnsmasq") is None and not os.path.exists("/usr/sbin/dnsmasq"):
        pytest.skip("dnsmasq is not installed (package dnsmasq-base)")
    tally, tested, failures = xmlfuzz.run(CASES, SEED, CONFS)
    print(f"fuzz: seed {SEED}: {tally.tried} definitions, {tally.accepted} accepted, "
          f"{tally.refused} refused cleanly, {len(tally.defects)} defects; "
          f"{tested} dnsmasq configurations tested, {len(failures)} refused by dnsmasq")
    assert not tally.defects, "\n\n".join(tally.defects[:5])
    assert not failures, "\n\n".join(failures[:5])
    # the mutator must exercise both sides, and dnsmasq must have seen a fair sample
    assert tally.accepted > CASES // 10 and tally.refused > CASES // 10
    assert tested >= min(CONFS, tally.accepted // 4)
