"""A notice for the user, as a step: what a start cannot do on this host and says so.

``note`` changes nothing and journals nothing; applying it tells the user (``ctx.say``), and
``net-plan`` prints it as a shell comment.  A driver's :attr:`Plan.notes
<kvmnet.network.drivers.base.Plan.notes>` become these steps, so the cached start program says
them on every start, not only on the one that compiled it.
"""
from __future__ import annotations

from kvmnet.engine.step import Step, register

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvmnet.engine.executor import Context


@register
class Note(Step):
    kind = "note"
    section = "links"
    fields = ("text",)
    text: str

    def describe(self) -> str:
        return f"# {self.text}"

    def apply(self, ctx: Context) -> None:
        ctx.say(self.text)
