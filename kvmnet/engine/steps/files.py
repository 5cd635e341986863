"""Files a process reads (dnsmasq's configuration, hosts, helper): write them, remove them."""
from __future__ import annotations

import os

from kvmnet.engine.step import LAST, Step, Undo, register, register_undo
from kvmnet.fileio import atomic_write, make_dirs, sweep

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


def write_file(path: str, text: str, mode: int = 0o644, *, durable: bool = True) -> None:
    """Write a file dnsmasq reads: missing directories are made searchable by others
    (dnsmasq drops to 'nobody'), whatever the umask."""
    make_dirs(os.path.dirname(path), 0o755)
    atomic_write(path, text.encode("utf-8"), mode=mode, durable=durable)


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def upstream_servers(resolv_conf: str = "/etc/resolv.conf") -> str:
    """``server=`` lines for dnsmasq from the host's resolver configuration, read at start."""
    lines = []
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    lines.append(f"server={words[1]}\n")
    except OSError:
        pass
    return "".join(lines)


@register
class WriteFiles(Step):
    """``files``: [path, text, mode, role] each; ``role`` is the net-plan section it shows in.
    ``servers``: [path, resolv.conf] -- a file of dnsmasq ``server=`` lines made from the
    host's resolver configuration when applied (it may change between define and start).
    ``remove``: paths the owner's processes make (leases), removed with the files."""

    kind = "files"
    section = "files"
    fields = ("files", "servers", "remove")
    defaults: ClassVar[dict[str, Any]] = {"servers": None, "remove": []}
    files: list[list[Any]]
    servers: list[str] | None
    remove: list[str]

    def _one(self, path: str, text: str, mode: int) -> str:
        body = text if text.endswith("\n") or not text else text + "\n"
        chmod = f"\nchmod {mode:o} {path}" if mode != 0o644 else ""
        return f"cat > {path} <<'EOF'\n{body}EOF{chmod}"

    def _servers(self) -> str:
        assert self.servers is not None
        path, resolv = self.servers
        return f"sed -n 's/^nameserver[[:space:]]*\\([^[:space:]]*\\).*/server=\\1/p' {resolv} > {path}"

    def describe(self) -> str:
        parts = [self._one(path, text, mode) for path, text, mode, _role in self.files]
        if self.servers is not None:
            parts.append(self._servers())
        return "\n".join(parts)

    def sections(self) -> list[tuple[str, str]]:
        out = [(role or self.section, self._one(path, text, mode))
               for path, text, mode, role in self.files]
        if self.servers is not None:
            out.append((self.section, self._servers()))
        return out

    def paths(self) -> list[str]:
        paths = [str(f[0]) for f in self.files]
        if self.servers is not None:
            paths.append(self.servers[0])
        return paths

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "files", "paths": [*self.paths(), *self.remove]}

    def apply(self, ctx: Context) -> None:
        # Not durable (no fsyncs): every start writes these files afresh before the process
        # that reads them starts (which sees them through the page cache), and a power loss
        # ends that process and the run journal with it; a file it tore is rewritten by the
        # next start.  The journal's undo record is durable before this step runs.  Saves 10
        # of a DHCP network start's 20 fsyncs (~3 ms of wall time on this VM, more on a busy disk).
        for path, text, mode, _role in self.files:
            write_file(path, text, mode, durable=False)
        if self.servers is not None:
            write_file(self.servers[0], upstream_servers(self.servers[1]), durable=False)


@register_undo
class RemoveFiles(Undo):
    kind = "files"
    phase = LAST

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        for path in entry["paths"]:
            unlink(path)
        if ctx.interrupted:
            # A run that did not finish may have been killed in the middle of writing a file:
            # its temporary file is named by no record.  Sweeping costs a directory listing
            # (~1 ms per 1,000 networks), so a clean undo leaves it to the next write there.
            for directory in {os.path.dirname(p) for p in entry["paths"]}:
                sweep(directory)

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return "rm -f " + " ".join(entry["paths"])
