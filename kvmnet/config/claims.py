"""Which stored network uses which UUID and bridge name: the index behind define's checks.

``net-define`` must refuse a UUID or a bridge that another network already uses, and pick the
lowest free ``virbrN``.  Reading every other definition for that makes each define cost O(N):
with 1,000 networks, 2,000 files (definitions and live states) on every define.  This index
answers the same questions from a few directory entries.

Layout: one tree per directory of stored files, kept beside it, and one index::

    etc/kvmnet/.claims/index        "kvmnet-claims 1 INODE MTIME_NS SIZE" of etc/kvmnet/networks
    etc/kvmnet/.claims/             claims of the persistent definitions (etc/kvmnet/networks)
        uuid/UUID/NAME              an empty marker (a symlink to "-"): NAME claims UUID
        bridge/BRIDGE/NAME          the same for a bridge name, whether the network creates
                                    the bridge or attaches to it (checks read that from the
                                    holder's file, as they verify every claim)
    run/kvmnet/.claims/             claims of the live states (run/kvmnet/networks), same shape;
                                    it empties (but for directories) when no network is active

How far it is trusted:

* **Extra claims are harmless.**  :class:`~kvmnet.config.store.Store` changes claims under the store
  lock, in the order that can only leave extra ones after a crash: the new file's claims before
  the file is written, the old file's claims after it is replaced or removed.  Every claim a
  check acts on is verified against the holder's file, so an extra claim never causes a false
  conflict; at worst it makes a generated ``virbrN`` skip a number until the next rebuild.
* **Missing claims are not.**  They come from files the index never saw: written by an older
  kvmnet, or copied into ``etc/kvmnet/networks`` by hand (migrating from libvirt, say).  The
  claims are used only while the index exists and the definitions' directory still has the
  inode, mtime and size that its last writer recorded; otherwise define rebuilds both trees
  from every file, under the lock (:meth:`Claims.rebuild`).  Nothing but kvmnet writes live
  states, and their directory also holds pid files that dnsmasq writes, so it gets no such
  check; when ``run/`` is wiped (a reboot), its claims go with the states they index.
* Not noticed: a stored file **overwritten in place** by hand (its directory keeps its mtime),
  and a file copied in within the same clock tick as kvmnet's own last write there (the
  mtime does not move on; a few milliseconds on kernels with coarse timestamps).  libvirt
  does not notice hand edits either (it reads its files at daemon start); the file's header
  says to use ``kvmnet net-edit``/``net-define``.

Readers never write: without the lock, an untrusted tree means a full read instead
(:func:`kvmnet.config.define.gather`).
"""
from __future__ import annotations

import errno
import os

from kvmnet.fileio import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from kvmnet.config.store import Peek

VERSION = 1
UUID = "uuid"
BRIDGE = "bridge"
_MARK = "-"  # what a claim's symlink points to: only its name carries information
#: Longest value kept as a directory name; longer ones (never valid bridge names or UUIDs)
#: are not indexed, and the checks treat them as unclaimed.
_MAX_VALUE = 200


def encode(value: str) -> str | None:
    """``value`` as one directory name: ``%``, ``/`` and a leading ``.`` escaped, or None."""
    if not value or "\0" in value:
        return None
    out = value.replace("%", "%25").replace("/", "%2F")
    if out.startswith("."):
        out = "%2E" + out[1:]
    return out if len(out.encode("utf-8")) <= _MAX_VALUE else None


def decode(entry: str) -> str:
    """The value that :func:`encode` turned into ``entry`` (an odd name is taken as it is)."""
    if "%" not in entry:
        return entry
    parts = entry.split("%")
    try:
        return parts[0] + "".join(chr(int(p[:2], 16)) + p[2:] for p in parts[1:])
    except ValueError:
        return entry


def claims_of(peek: Peek | None) -> set[tuple[str, str]]:
    """``(kind, value)`` of what one stored file claims."""
    out: set[tuple[str, str]] = set()
    if peek is not None and peek.uuid:
        out.add((UUID, peek.uuid))
    if peek is not None and peek.bridge:
        out.add((BRIDGE, peek.bridge))
    return out


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


class Claims:
    """Both trees and the index that says whether they can be trusted."""

    def __init__(self, etc: str, networks: str, run: str) -> None:
        self.config = Tree(os.path.join(etc, ".claims"))
        self.status = Tree(os.path.join(run, ".claims"))
        self._networks = networks
        self._index = os.path.join(etc, ".claims", "index")

    def _stamp(self) -> str:
        """What the index records: format version and the definitions' directory identity."""
        try:
            st = os.stat(self._networks)
        except (FileNotFoundError, NotADirectoryError):
            return f"kvmnet-claims {VERSION} none\n"
        return f"kvmnet-claims {VERSION} {st.st_ino} {st.st_mtime_ns} {st.st_size}\n"

    def valid(self) -> bool:
        """True when every stored file's claims are in the trees (see the module's notes)."""
        try:
            with open(self._index, encoding="ascii") as f:
                recorded = f.read(200)
        except (OSError, ValueError):
            return False
        return recorded == self._stamp()

    def seal(self) -> None:
        """Record that the trees are complete: after a rebuild, and after each change of the
        definitions' directory by a writer that found them complete."""
        os.makedirs(os.path.dirname(self._index), exist_ok=True)
        # no fsync: after a power loss a missing or stale index only costs a rebuild
        atomic_write(self._index, self._stamp().encode(), mode=0o600, durable=False)

    def invalidate(self) -> None:
        """Stop trusting the trees until the next rebuild (best effort)."""
        try:
            os.unlink(self._index)
        except OSError:
            pass

    def rebuild(self, config: Iterable[tuple[str, Peek]],
                status: Iterable[tuple[str, Peek]]) -> None:
        """Replace every claim by those of the stored files, read afresh: ``(name, peek)``."""
        self.invalidate()
        self.config.rebuild(config)
        self.status.rebuild(status)
        self.seal()


class Tree:
    """The claims of one directory of stored network files (definitions or live states)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def rebuild(self, stored: Iterable[tuple[str, Peek]]) -> None:
        import shutil

        for kind in (UUID, BRIDGE):
            try:
                shutil.rmtree(os.path.join(self.root, kind))
            except FileNotFoundError:
                pass
        for name, peek in stored:
            self.claim(name, peek)

    # -- writers (under the store lock) ------------------------------------------------------
    def claim(self, name: str, peek: Peek | None) -> None:
        for kind, value in claims_of(peek):
            key = encode(value)
            if key is None:
                continue
            directory = os.path.join(self.root, kind, key)
            os.makedirs(directory, exist_ok=True)
            try:
                os.symlink(_MARK, os.path.join(directory, name))
            except FileExistsError:
                pass  # claimed already

    def release(self, name: str, peek: Peek | None, keep: Peek | None = None) -> None:
        """Drop ``name``'s claims from ``peek`` that ``keep`` (its new file) does not make."""
        for kind, value in claims_of(peek) - claims_of(keep):
            key = encode(value)
            if key is None:
                continue
            directory = os.path.join(self.root, kind, key)
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            _rmdir(directory)

    # -- readers ---------------------------------------------------------------------------------
    def holders(self, kind: str, value: str) -> list[str]:
        """The names of the networks claiming ``value``; verify before acting on one."""
        key = encode(value)
        return [] if key is None else _listdir(os.path.join(self.root, kind, key))

    def values(self, kind: str) -> list[str]:
        """Every claimed value of ``kind`` (a superset: claims are verified on use)."""
        return [decode(v) if "%" in v else v for v in _listdir(os.path.join(self.root, kind))]


def _rmdir(path: str) -> None:
    """Remove a value's directory once its last claim is gone."""
    try:
        os.rmdir(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            raise
