"""Finding a program in PATH, as the shell does (``command -v``).

``shutil.which`` would do, but importing :mod:`shutil` loads the zlib, bz2 and lzma
extension modules (three shared libraries, ~8 ms here) on the ``net-start`` hot path.
"""
from __future__ import annotations

import os


def which(program: str, path: str | None = None) -> str | None:
    """The executable file ``program`` names: itself if it has a slash, else the first in PATH."""
    if "/" in program:
        return program if _executable(program) else None
    search = os.environ.get("PATH", os.defpath) if path is None else path
    for folder in search.split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        if _executable(candidate):
            return candidate
    return None


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
