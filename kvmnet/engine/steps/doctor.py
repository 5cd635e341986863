"""``kvmnet doctor --fix``: one accept rule added to another tool's firewall chain
(``doctor.rule``), or one host setting changed back (``doctor.sysctl``, ``doctor.mtu``, at the
end of this module: the undo restores the value read before, while it is still doctor's).

The rule carries a comment naming the network (``kvmnet: network NET: ...``), so a person
reading Docker's ``DOCKER-USER`` or firewalld's table sees whose it is.  The undo record holds
the whole rule, so that the undo removes exactly it (iptables: ``-D`` with the same spec;
nftables: the rules of that chain whose comment is this one, by handle, since handles change
when a tool rebuilds its table), and so that ``kvmnet watch`` can put it back from the network's
journal alone when the tool wiped it.  Adding is idempotent (a rule already there is left),
and so is removing (a rule, chain or table already gone is fine).  Never a policy, never a
rule that kvmnet did not add.
"""
from __future__ import annotations

from kvmnet.engine.step import KERNEL, Step, Undo, register, register_undo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kvmnet.engine.executor import Context

KIND = "doctor"
NFT = "nft"


def _spec(entry: dict[str, Any]) -> list[str]:
    return [*entry["rule"], "-m", "comment", "--comment", entry["comment"]]


def _nft_comment(comment: str) -> str:
    return '"' + comment.replace('"', "'") + '"'


def describe_add(entry: dict[str, Any]) -> str:
    import shlex

    if entry["backend"] == NFT:
        return (f"nft insert rule {entry['family']} {entry['table']} {entry['chain']} "
                f"{' '.join(entry['rule'])} comment {shlex.quote(_nft_comment(entry['comment']))}")
    return shlex.join([entry["backend"], "-I", entry["chain"], *_spec(entry)])


def present(entry: dict[str, Any]) -> bool | None:
    """Whether the rule is in place: True, False, or None when its chain does not exist
    (the tool that owns the chain is not running: nothing to put it into)."""
    from kvmnet.host import iptables
    from kvmnet.host.nftmonitor import chain_rules

    if entry["backend"] == NFT:
        rules = chain_rules(entry["family"], entry["table"], entry["chain"])
        if rules is None:
            return None
        return any(r.get("comment") == entry["comment"] for r in rules)
    backend = entry["backend"].removeprefix("iptables-")
    if not iptables.has_chain(backend, entry["chain"]):
        return None
    return iptables.has_rule(backend, entry["chain"], _spec(entry))


def add(entry: dict[str, Any]) -> bool:
    """Put the rule in (at the top of its chain) unless it is there; True when it was added."""
    from kvmnet.host import iptables, nftables

    if entry["backend"] == NFT:
        if present(entry):
            return False
        nftables.apply(f"insert rule {entry['family']} {entry['table']} {entry['chain']} "
                       f"{' '.join(entry['rule'])} comment {_nft_comment(entry['comment'])}\n")
        return True
    return iptables.insert(entry["backend"].removeprefix("iptables-"), entry["chain"],
                           _spec(entry))


@register
class DoctorRule(Step):
    kind = "doctor.rule"
    section = "firewall-fixes"
    fields = ("backend", "family", "table", "chain", "rule", "comment")
    backend: str  # iptables-nft, iptables-legacy or nft
    family: str
    table: str
    chain: str
    rule: list[str]
    comment: str

    def record(self) -> dict[str, Any]:
        return {"kind": KIND, **{name: getattr(self, name) for name in self.fields}}

    def describe(self) -> str:
        return describe_add(self.record())

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return self.record()

    def apply(self, ctx: Context) -> None:
        add(self.record())


@register_undo
class DoctorRuleUndo(Undo):
    kind = KIND
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        from kvmnet.host import iptables, nftables
        from kvmnet.host.nftmonitor import chain_rules

        if entry["backend"] != NFT:
            iptables.delete(entry["backend"].removeprefix("iptables-"), entry["chain"],
                            _spec(entry))
            return
        rules = chain_rules(entry["family"], entry["table"], entry["chain"]) or []
        doc = "".join(f"delete rule {entry['family']} {entry['table']} {entry['chain']} "
                      f"handle {r['handle']}\n" for r in rules
                      if r.get("comment") == entry["comment"])
        if doc:
            nftables.apply(doc)

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        import shlex

        if entry["backend"] == NFT:
            return (f"nft delete rule {entry['family']} {entry['table']} {entry['chain']} "
                    f"handle H  # H: the rule whose comment is {entry['comment']!r}")
        return shlex.join([entry["backend"], "-D", entry["chain"], *_spec(entry)])


@register
class DoctorSysctl(Step):
    """``--fix`` sets a sysctl back (IPv4 forwarding that kvmnet's start set; loose reverse
    path filtering on kvmnet's own bridge).  ``old`` is the value doctor read; the undo puts it
    back only while the setting is still doctor's ``value`` (a person's later change stays)."""

    kind = "doctor.sysctl"
    section = "firewall-fixes"
    fields = ("key", "value", "old")
    key: str
    value: str
    old: str

    def describe(self) -> str:
        return f"sysctl -w {self.key}={self.value}"

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": self.kind, "key": self.key, "value": self.value, "old": self.old}

    def apply(self, ctx: Context) -> None:
        ctx.host.sysctl_write(self.key, self.value)


@register_undo
class DoctorSysctlUndo(Undo):
    kind = "doctor.sysctl"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        if ctx.host.sysctl_read(entry["key"]) == entry["value"]:
            ctx.host.sysctl_write(entry["key"], entry["old"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return (f"sysctl -w {entry['key']}={entry['old']}  # if it is still "
                f"{entry['value']}")


@register
class DoctorMtu(Step):
    """``--fix`` lowers the MTU of kvmnet's own bridge to the uplink's.  The undo puts ``old``
    back while the bridge exists and still has doctor's MTU."""

    kind = "doctor.mtu"
    section = "firewall-fixes"
    fields = ("link", "mtu", "old")
    link: str
    mtu: int
    old: int

    def describe(self) -> str:
        return f"ip link set dev {self.link} mtu {self.mtu}"

    def undo_record(self, ctx: Context) -> dict[str, Any] | None:
        return {"kind": self.kind, "link": self.link, "mtu": self.mtu, "old": self.old}

    def apply(self, ctx: Context) -> None:
        ctx.nl.set_mtu(self.link, self.mtu)


@register_undo
class DoctorMtuUndo(Undo):
    kind = "doctor.mtu"
    phase = KERNEL

    @staticmethod
    def undo(entry: dict[str, Any], ctx: Context) -> None:
        link = ctx.nl.link_info(entry["link"])
        if link is not None and link.mtu == entry["mtu"]:
            ctx.nl.set_mtu(entry["link"], entry["old"])

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        return (f"ip link set dev {entry['link']} mtu {entry['old']}  # if it is still "
                f"{entry['mtu']}")
