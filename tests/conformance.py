"""Access to libvirt's conformance corpus, read in place (never copied into the repo).

The folder is ``../shared/conformance/libvirt-11.3.0`` beside the repository, or
``$KVMNET_CONFORMANCE``.  When it is absent the conformance tests are skipped with
that reason (they are never counted as passes).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def conformance_dir() -> Path | None:
    env = os.environ.get("KVMNET_CONFORMANCE")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "conformance" / "libvirt-11.3.0")
    for c in candidates:
        if (c / "cases.json").is_file():
            return c
    return None


def load_cases(kind: str) -> list[dict[str, Any]]:
    base = conformance_dir()
    if base is None:
        return []
    cases = json.loads((base / "cases.json").read_text())
    return [c for c in cases if c["kind"] == kind]


def read_unwrapped(path: Path) -> str:
    """Load an expected file as libvirt's virTestLoadFile does: join backslash-newline lines."""
    return path.read_text().replace("\\\n", "")
