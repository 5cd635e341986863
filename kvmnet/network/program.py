"""A network's start program: its steps and live status as plain JSON data, cached per definition.

A program is ``{"format", "key", "network", "uuid", "mode", "steps": [STEP JSON, ...],
"status_xml"}``: the engine steps (:mod:`kvmnet.engine.steps`) a start runs, in order.
``net-start`` of a defined network only has to *apply* what the definition
renders to.  The rendering (parse, validate, plan, nft documents, dnsmasq
files, the live status XML) is pure, so kvmnet keeps its result in
``var/lib/kvmnet/programs/NAME.json``, keyed by the stored definition,
kvmnet's version, the state root and the Python that runs the lease helper
(the key is those parts themselves, compared as text: no hashing, whose
import would load OpenSSL's libcrypto on the hot path).  A matching cache lets a cold ``net-start`` skip the XML reader, the model
and every renderer; anything else (first start, an edited definition, a new
kvmnet) compiles again.  The host checks (conflicts, missing programs) always
run at start, on the program.

This module imports nothing heavy: it is on the fast path.
"""
from __future__ import annotations

import os
import sys

from kvmnet import jsontext
from kvmnet.fileio import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Program = dict[str, Any]

# Bump when what a definition compiles to changes (renderers, program layout): programs
# cached by an older kvmnet of the same version are then compiled again.
FORMAT = 8


def cache_key(definition: str, root: str) -> str:
    from kvmnet.version import __version__

    return jsontext.dumps([FORMAT, __version__, root, os.path.realpath(sys.executable), definition])


def cache_path(programs_dir: str | os.PathLike[str], name: str) -> str:
    return os.path.join(programs_dir, f"{name}.json")


def load(path: str, key: str) -> Program | None:
    """The cached program if it was compiled from exactly this definition, else None."""
    try:
        with open(path, encoding="utf-8") as f:
            program: Program = jsontext.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(program, dict) or program.get("key") != key:
        return None
    return program


def save(path: str, program: Program) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # a cache: losing it to a power cut costs a compile, so no fsyncs (two per define)
    atomic_write(path, jsontext.dumps(program).encode("utf-8"), mode=0o600, durable=False)


def lock_path(path: str) -> str:
    """The lock a compile of cache ``path`` holds (:mod:`kvmnet.network.precompile`)."""
    return f"{path}.lock"


def drop(path: str) -> None:
    """Remove cache ``path`` (and its lock), once a compile under way finished."""
    from kvmnet.fileio import FileLock

    lock = lock_path(path)
    if not os.path.exists(lock):
        unlink(path)
        return
    with FileLock(lock):
        unlink(path)
        unlink(lock)


def unlink(path: str) -> None:
    """Remove ``path``; already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def dnsmasq_files(program: Program) -> dict[str, str] | None:
    """path -> text of the files a program writes for dnsmasq, or None when it runs none."""
    if not any(step["kind"] == "dnsmasq" for step in program["steps"]):
        return None
    return {str(f[0]): str(f[1]) for step in program["steps"] if step["kind"] == "files"
            for f in step["files"]}
