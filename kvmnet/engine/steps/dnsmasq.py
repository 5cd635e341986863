"""dnsmasq: start one for a network (its files are a ``files`` step before it); undo: stop it."""
from __future__ import annotations

from kvmnet.engine.step import BACKGROUND, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from kvmnet.engine.executor import Context


@register
class StartDnsmasq(Step):
    """``listens``: [address, port, proto] it will bind, checked free before anything changes."""

    kind = "dnsmasq"
    section = "dnsmasq"
    fields = ("conf", "pid_file", "listens")
    defaults: ClassVar[dict[str, Any]] = {"listens": []}
    conf: str
    pid_file: str
    listens: list[list[Any]]

    def describe(self) -> str:
        return f"dnsmasq --conf-file={self.conf}"

    def undo_record(self, ctx: Context) -> dict[str, Any]:
        return {"kind": "dnsmasq", "pid_file": self.pid_file, "conf": self.conf}

    def apply(self, ctx: Context) -> None:
        ctx.host.dnsmasq_start(self.conf, self.pid_file, ctx.say)


@register_undo
class StopDnsmasq(Undo):
    kind = "dnsmasq"
    phase = BACKGROUND

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        ctx.host.dnsmasq_stop(entry["pid_file"], entry["conf"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return f"kill $(cat {entry['pid_file']})  # dnsmasq --conf-file={entry['conf']}"
