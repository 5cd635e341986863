"""Network definitions and live state on disk, under ``$KVMNET_ROOT``.

Layout (as libvirt lays out ``/etc/libvirt/qemu/networks``)::

    etc/kvmnet/networks/NAME.xml              persistent definition, one per network
    etc/kvmnet/networks/autostart/NAME.xml    symlink -> ../NAME.xml when autostarted
    etc/kvmnet/.lock                          flock() taken around read-modify-write
    run/kvmnet/networks/NAME.xml              live definition of an active network
                                              (a transient network exists only here)
    etc/kvmnet/.claims/, run/kvmnet/.claims/  which network uses which UUID and bridge
                                              (kvmnet.config.claims), kept in step by the writers

Every write goes to a temporary file in the same directory which is fsynced,
renamed over the target and followed by an fsync of the directory, so a reader
sees either the old or the new file, never a torn one, and a crash leaves no
half-written definition.  Readers take no lock for that reason; writers take
the exclusive lock so that concurrent kvmnet processes never lose an update.

A status file is a complete ``<network>`` document: the live definition as
``format_network(net)`` writes it (``write_status``).  A network is active
exactly when its status file exists.  Other runtime files of a network must not
be named ``*.xml`` directly in ``run/kvmnet/networks/`` (that name space is the
list of active networks); keep them in a sub-directory or under another suffix.

Listing is cheap on purpose: ``entries()`` only reads directories (name, state,
autostart, persistence come from which files exist), and ``peek_*()`` pull the
few fields that define-time checks need (uuid, bridge, mode, mac) with the C
expat parser, so ``kvmnet net-list`` never imports lxml.  The peek is a subset of the one
network reader (:mod:`kvmnet.xmlio.network_parse`): defaults and value forms come from
:mod:`kvmnet.xmlio.canon`, and a test holds its fields to the parser's.  Define compares a new
definition with the others through the claim index, not by reading every file.
"""
from __future__ import annotations

import os

from kvmnet import paths as paths_mod
from kvmnet.config.claims import Claims, Tree
from kvmnet.errors import InvalidArgError, KvmnetError, XMLParseError, quote
from kvmnet.fileio import FileLock, atomic_write, sweep, temp_name
from kvmnet.fileio import fsync_dir as _fsync_dir
from kvmnet.model.modes import owns_bridge
from kvmnet.paths import Paths

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import TypeVar

    T = TypeVar("T")

# The one name limit lives with the file layout it protects (kvmnet.paths).
MAX_NAME_BYTES = paths_mod.MAX_NAME_BYTES

_HEADER_START = "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE."
_SUFFIX = ".xml"


class CorruptStoreError(KvmnetError):
    """A stored file cannot be read back: someone edited or damaged it by hand."""


def check_name(name: str) -> None:
    """Reject names that cannot be a file name or would confuse a terminal.

    libvirt itself only forbids ``/``; kvmnet also refuses what would escape the
    store directory or hide the file (``.``, ``..``, a leading dot), and control
    characters (NUL, newline, ...) that break file names and line-based output.
    """
    problem = name_problem(name)
    if problem is not None:
        raise InvalidArgError(problem)


def name_problem(name: str, what: str = "network", max_bytes: int = MAX_NAME_BYTES) -> str | None:
    """Why ``name`` cannot name a ``what`` (it becomes a file name), or None."""
    # the common case, cheaply: it runs for every stored network on every define
    if (name.isascii() and name.isprintable() and "/" not in name and name[:1] not in ("", ".")
            and len(name) <= max_bytes):
        return None
    shown = quote(name)
    if name == "":
        return f"{what} name is empty; give the {what} a <name>"
    if "/" in name:
        return f"{what} name {shown} contains '/'; choose a name without '/'"
    if name in (".", ".."):
        return f"{what} name {shown} is not allowed; choose another name"
    if name.startswith("."):
        return f"{what} name {shown} starts with '.'; choose a name that does not"
    bad = [c for c in name if ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        return (f"{what} name {shown} contains the control character {bad[0]!r}; "
                "choose a name with printable characters only")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{what} name {shown} is not valid UTF-8 text"
    if size > max_bytes:
        return (f"{what} name is {size} bytes long; the limit is {max_bytes} bytes "
                "(it is used in file names)")
    return None


def is_safe_name(name: str) -> bool:
    return name_problem(name) is None


class Entry:
    """What the directories alone tell about one network.

    A plain slotted class rather than a dataclass: this module is on the
    ``kvmnet net-list`` start-up path, where building dataclasses costs time.
    """

    __slots__ = ("active", "autostart", "name", "persistent")

    def __init__(self, name: str, persistent: bool, active: bool, autostart: bool) -> None:
        self.name = name
        self.persistent = persistent
        self.active = active
        self.autostart = autostart

    def _key(self) -> tuple[str, bool, bool, bool]:
        return (self.name, self.persistent, self.active, self.autostart)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Entry(name={self.name!r}, persistent={self.persistent}, "
                f"active={self.active}, autostart={self.autostart})")


class Peek:
    """The handful of fields define-time checks need, read without lxml."""

    __slots__ = ("bridge", "mac", "mode", "name", "uuid")

    def __init__(self, name: str | None, uuid: str | None, mode: str, bridge: str | None,
                 mac: str | None) -> None:
        self.name = name
        self.uuid = uuid
        self.mode = mode  # forward mode; "none" when there is no <forward>
        self.bridge = bridge
        self.mac = mac

    @property
    def owns_bridge(self) -> bool:
        return owns_bridge(self.mode)  # the mode's fact (kvmnet.model.modes)

    def _key(self) -> tuple[str | None, ...]:
        return (self.name, self.uuid, self.mode, self.bridge, self.mac)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Peek) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Peek(name={self.name!r}, uuid={self.uuid!r}, mode={self.mode!r}, "
                f"bridge={self.bridge!r}, mac={self.mac!r})")


def peek_xml(data: bytes | str, source: str = "network XML") -> Peek:
    """Read name, uuid, forward mode, bridge name and MAC from a network document.

    Refuses a DOCTYPE (no entity expansion at all).
    """
    from xml.parsers import expat

    # imported here: the cold commands that never peek do not load it
    from kvmnet.xmlio.canon import FORWARD_MODE_DEFAULT, FORWARD_MODE_NONE, canonical_uuid, mac_form

    parser = expat.ParserCreate()
    depth = 0
    root_depth = 0  # 1 once the <network> root element is open
    capture: list[str] | None = None
    fields: dict[str, str] = {}
    attrs_seen: dict[str, dict[str, str]] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth, root_depth, capture
        depth += 1
        if depth == 1:
            if tag != "network":
                raise XMLParseError(f"{source}: root element is <{tag}>, expected <network>")
            root_depth = 1
            return
        if root_depth and depth == root_depth + 1:
            if tag in ("name", "uuid") and tag not in fields:
                capture = []
            elif tag in ("forward", "bridge", "mac") and tag not in attrs_seen:
                attrs_seen[tag] = dict(attrs)

    def end(tag: str) -> None:
        nonlocal depth, capture
        if capture is not None and root_depth and depth == root_depth + 1:
            fields[tag] = "".join(capture)
            capture = None
        depth -= 1

    def text(data: str) -> None:
        if capture is not None:
            capture.append(data)

    def no_doctype(*_args: object) -> None:
        raise XMLParseError(f"{source}: DOCTYPE declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = no_doctype
    parser.EntityDeclHandler = no_doctype
    try:
        if isinstance(data, str):
            parser.Parse(data.encode("utf-8"), True)
        else:
            parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XMLParseError(f"{source}: {exc}") from None
    if not root_depth:
        raise XMLParseError(f"{source}: no <network> element")
    # the parser's rules (kvmnet.xmlio.canon); an empty value is no value, as for the parser
    forward = attrs_seen.get("forward")
    mode = FORWARD_MODE_NONE if forward is None else forward.get("mode", FORWARD_MODE_DEFAULT)
    uuid = fields.get("uuid")
    mac = attrs_seen.get("mac", {}).get("address")
    return Peek(
        name=fields.get("name") or None,
        uuid=canonical_uuid(uuid) if uuid else None,
        mode=mode,
        bridge=attrs_seen.get("bridge", {}).get("name") or None,
        mac=(mac_form(mac) or mac) if mac else None,
    )


def _peek_file(path: str | Path) -> Peek | None:
    """The peek of one stored file; None when there is none, CorruptStoreError when damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return peek_xml(data, os.fspath(path))
    except XMLParseError as exc:
        raise CorruptStoreError(
            f"stored file {path} cannot be read: {exc.message}; fix the file by hand "
            "or remove it") from None


def _peek_quiet(path: str | Path, data: str | None = None) -> Peek | None:
    """The peek of a file about to be replaced, or of the text replacing it; None when
    damaged: such a file claims nothing."""
    try:
        return _peek_file(path) if data is None else peek_xml(data)
    except (CorruptStoreError, XMLParseError):
        return None


def header_comment(name: str) -> str:
    """libvirt's warning header, naming the command that edits the file safely."""
    # A comment may not contain "--" nor end in "-": leave such a name out.
    who = f" {name}" if "--" not in name and not name.endswith("-") else ""
    return (
        f"{_HEADER_START} CHANGES TO IT ARE LIKELY TO BE\n"
        "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
        f"  kvmnet net-edit{who}\n"
        "or other application using the kvmnet API.\n"
        "-->\n\n"
    )


def strip_header(text: str) -> str:
    """Drop the header comment that :func:`header_comment` wrote, if present."""
    if text.startswith(_HEADER_START):
        end = text.find("-->\n")
        if end >= 0:
            return text[end + 4:].lstrip("\n")
    return text


def _xml_names(directory: str) -> set[str]:
    """Names ``NAME`` of the ``NAME.xml`` files in ``directory`` (dot files are temporaries)."""
    names: set[str] = set()
    try:
        with os.scandir(directory) as it:
            for entry in it:
                fname = entry.name
                if fname.endswith(_SUFFIX) and not fname.startswith(".") and len(fname) > 4:
                    names.add(fname[:-4])
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        pass
    return names


# The store's directories come from kvmnet.paths.Paths (a plain class: cheap to import).
StorePaths = Paths
Layout = Paths  # the name earlier code and tests use


class Store:
    """Files of persistent and live networks under one state root.

    ``paths`` is a :class:`kvmnet.paths.Paths` or a :class:`Layout`; by default
    the root comes from ``$KVMNET_ROOT`` (else ``/``).  The store names its files with plain
    strings (:meth:`kvmnet.paths.Paths.text`): ``net-undefine`` then runs without pathlib.
    """

    def __init__(self, paths: StorePaths | None = None) -> None:
        self.paths: StorePaths = paths if paths is not None else Layout()
        self._networks = self.paths.text("networks")
        self._autostart = self.paths.text("autostart")
        self._run_networks = self.paths.text("run_networks")
        self._lock = FileLock(self.paths.text("lock"))
        self._claims: Claims | None = None

    # -- locations --------------------------------------------------------
    def config_path(self, name: str) -> Path:
        return _as_path(self._config_file(name))

    def autostart_path(self, name: str) -> Path:
        return _as_path(self._autostart_file(name))

    def status_path(self, name: str) -> Path:
        return _as_path(self._status_file(name))

    def _config_file(self, name: str) -> str:
        check_name(name)
        return os.path.join(self._networks, name + _SUFFIX)

    def _autostart_file(self, name: str) -> str:
        check_name(name)
        return os.path.join(self._autostart, name + _SUFFIX)

    def _status_file(self, name: str) -> str:
        check_name(name)
        return os.path.join(self._run_networks, name + _SUFFIX)

    # -- locking ------------------------------------------------------------
    def locked(self) -> FileLock:
        """Exclusive lock over the whole store (``with store.locked():``); re-entrant."""
        return self._lock

    # -- listing ------------------------------------------------------------
    def config_names(self) -> set[str]:
        return {n for n in _xml_names(self._networks) if is_safe_name(n)}

    def status_names(self) -> set[str]:
        return {n for n in _xml_names(self._run_networks) if is_safe_name(n)}

    def autostart_names(self) -> set[str]:
        return _xml_names(self._autostart)

    def entries(self) -> list[Entry]:
        """Every known network (persistent or active), from directory listings only."""
        persistent = self.config_names()
        active = self.status_names()
        autostart = self.autostart_names()
        return [
            Entry(name=n, persistent=n in persistent, active=n in active,
                  autostart=n in autostart and n in persistent)
            for n in persistent | active
        ]

    def entry(self, name: str) -> Entry | None:
        """One network's state from three stat() calls, or None when it does not exist."""
        if not is_safe_name(name):
            return None
        fname = name + _SUFFIX
        persistent = os.path.isfile(os.path.join(self._networks, fname))
        active = os.path.isfile(os.path.join(self._run_networks, fname))
        if not (persistent or active):
            return None
        autostart = persistent and os.path.lexists(os.path.join(self._autostart, fname))
        return Entry(name=name, persistent=persistent, active=active, autostart=autostart)

    # -- persistent definitions ---------------------------------------------
    def is_persistent(self, name: str) -> bool:
        return is_safe_name(name) and os.path.isfile(self._config_file(name))

    def read_config(self, name: str) -> str | None:
        """The stored definition (without the header comment), or None."""
        if not is_safe_name(name):
            return None
        return self._read(self._config_file(name))

    def write_config(self, name: str, xml: str) -> None:
        path = self._config_file(name)
        data = (header_comment(name) + xml).encode("utf-8")

        def write() -> None:
            os.makedirs(self._networks, exist_ok=True)
            atomic_write(path, data)

        with self.locked():
            self._replace(self.claims.config, name, path, _peek_quiet(path, xml), write)

    def delete_config(self, name: str) -> bool:
        """Remove the definition and its autostart link; True if there was one."""
        path = self._config_file(name)
        with self.locked():
            self.set_autostart(name, False)
            return self._replace(self.claims.config, name, path, None, lambda: _remove(path))

    # -- autostart ------------------------------------------------------------
    def is_autostart(self, name: str) -> bool:
        return (is_safe_name(name) and os.path.lexists(self._autostart_file(name))
                and os.path.isfile(self._config_file(name)))

    def set_autostart(self, name: str, enabled: bool) -> None:
        link = self._autostart_file(name)
        with self.locked():
            if enabled:
                if not os.path.isdir(self._autostart):
                    # a new entry in the definitions' directory: keep the claim index trusted
                    trusted = self.claims.valid()
                    os.makedirs(self._autostart, exist_ok=True)
                    if trusted:
                        self.claims.seal()
                # Relative, so that the store still works when KVMNET_ROOT moves.
                target = f"../{name}{_SUFFIX}"
                try:
                    if os.readlink(link) == target:
                        return
                except OSError:
                    pass
                sweep(self._autostart)
                tmp = temp_name(self._autostart, f"{name}{_SUFFIX}")
                os.symlink(target, tmp)
                try:
                    os.replace(tmp, link)
                except BaseException:
                    os.unlink(tmp)
                    raise
                _fsync_dir(self._autostart)
            else:
                try:
                    os.unlink(link)
                except FileNotFoundError:
                    return
                _fsync_dir(self._autostart)

    # -- live state -----------------------------------------------------------
    def is_active(self, name: str) -> bool:
        return is_safe_name(name) and os.path.isfile(self._status_file(name))

    def read_status(self, name: str) -> str | None:
        """The live definition of an active network, or None when it is not active."""
        if not is_safe_name(name):
            return None
        return self._read(self._status_file(name))

    def write_status(self, name: str, xml: str) -> None:
        path = self._status_file(name)

        def write() -> None:
            os.makedirs(self._run_networks, exist_ok=True)
            atomic_write(path, xml.encode("utf-8"), mode=0o600)

        with self.locked():
            self._replace(self.claims.status, name, path, _peek_quiet(path, xml), write)

    def delete_status(self, name: str) -> bool:
        path = self._status_file(name)
        with self.locked():
            return self._replace(self.claims.status, name, path, None, lambda: _remove(path))

    # -- quick field access -----------------------------------------------------
    def peek_config(self, name: str) -> Peek | None:
        if not is_safe_name(name):
            return None
        return _peek_file(os.path.join(self._networks, name + _SUFFIX))

    def peek_status(self, name: str) -> Peek | None:
        if not is_safe_name(name):
            return None
        return _peek_file(os.path.join(self._run_networks, name + _SUFFIX))

    def peeks(self, status: bool = False) -> Iterator[tuple[str, Peek]]:
        """``(name, peek)`` of every stored config (or every live state), each file read: what
        the claim index is rebuilt from.  A damaged file is left out: it claims no UUID or
        bridge, and redefining the network is how it gets repaired."""
        directory = self._run_networks if status else self._networks
        for name in sorted(_xml_names(directory)):
            if not is_safe_name(name):
                continue
            try:
                peek = _peek_file(os.path.join(directory, name + _SUFFIX))
            except CorruptStoreError:
                continue
            if peek is not None:
                yield name, peek

    @property
    def claims(self) -> Claims:
        """Who uses which UUID and bridge (kvmnet.config.claims); maintained by the writers here."""
        if self._claims is None:
            self._claims = Claims(self.paths.text("etc"), self._networks, self.paths.text("run"))
        return self._claims

    def ensure_claims(self) -> bool:
        """Rebuild the claim index when it cannot be trusted; False when it still cannot be
        (no right to write it).  Takes the lock: readers use :meth:`Claims.valid` instead."""
        claims = self.claims
        with self.locked():
            if claims.valid():
                return True
            try:
                claims.rebuild(self.peeks(), self.peeks(status=True))
            except OSError:
                return False
            return True

    def _replace(self, tree: Tree, name: str, path: str, new: Peek | None,
                 change: Callable[[], T]) -> T:
        """Run ``change`` (which writes or removes ``path``, the file of ``name``) and keep the
        claim index in step: the new file's claims first, the old file's last (see
        kvmnet.config.claims on why that order).  An untrusted index is left for define to rebuild."""
        claims = self.claims
        track = claims.valid()
        old = _peek_quiet(path) if track else None
        if track:
            track = _best_effort(claims, lambda: tree.claim(name, new))
        result = change()
        if track:
            _best_effort(claims, lambda: tree.release(name, old, keep=new))
            if tree is claims.config:
                _best_effort(claims, claims.seal)
        return result

    def _read(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptStoreError(
                f"stored file {path} is not UTF-8 ({exc.reason} at byte {exc.start}); "
                "fix the file by hand or remove it") from None
        return strip_header(text)


def _best_effort(claims: Claims, step: Callable[[], None]) -> bool:
    """Run one step of keeping the claim index; when it fails (no space, a file system
    without symlinks), the index is dropped rather than the write refused: the next define
    rebuilds it, or reads every file."""
    try:
        step()
        return True
    except OSError:
        claims.invalidate()
        return False


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    _fsync_dir(os.path.dirname(path))
    return True


def _as_path(path: str) -> Path:
    from pathlib import Path

    return Path(path)
