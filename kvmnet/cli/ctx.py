"""What every command handler runs in: the context, error reporting, exit statuses.

Kept apart from :mod:`kvmnet.cli.main` (argparse) so that the plain forms of the hot
verbs can run their handlers without building a parser (:mod:`kvmnet.cli.entry`).
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~4.5 ms of a cold start: annotations only

from kvmnet.errors import KvmnetError, one_line, quote

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from kvmnet.api import Connection


class UsageError(Exception):
    """Bad command line: exit status 2."""


class Ctx:
    """What a command handler needs: streams, global options and the connection."""

    def __init__(self, stdout: TextIO, stderr: TextIO, stdin: TextIO, *, quiet: bool = False,
                 debug: bool = False, root: str | None = None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.quiet = quiet
        self.debug = debug
        self.root = root
        self.trailer = True  # virsh's empty line after each command
        self._conn: Connection | None = None

    def conn(self) -> Connection:
        if self._conn is None:
            from kvmnet.api import Connection

            self._conn = Connection(self.root)
            self._conn.warn = self.warning
        return self._conn

    def out(self, text: str) -> None:
        self.stdout.write(text)

    def extra(self, text: str) -> None:
        """Informational output that ``--quiet`` suppresses (virsh's vshPrintExtra)."""
        if not self.quiet:
            self.stdout.write(text)

    def error(self, message: str) -> None:
        """The one place an error reaches the terminal: always one ``error:`` line, whatever
        the message holds (a file name with a line break, a value from the XML)."""
        self.stderr.write(f"error: {one_line(message)}\n")
        self.stderr.flush()

    def warning(self, message: str) -> None:
        """A problem that does not stop the command: one ``warning:`` line on stderr."""
        self.stderr.write(f"warning: {one_line(message)}\n")
        self.stderr.flush()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def run_command(ctx: Ctx, command: Callable[[], int]) -> int:
    """Run one command's handler: its exit status, or its error printed as ``error: ...``."""
    status = 1
    try:
        status = int(command())
    except UsageError as exc:
        ctx.error(str(exc))
        return 2
    except KvmnetError as exc:
        _traceback(ctx)
        ctx.error(str(exc))
        status = exc.exit_status
    except BrokenPipeError:
        raise  # handled in session(): the reader went away
    except OSError as exc:
        _traceback(ctx)
        where = f" ({quote(exc.filename)})" if exc.filename else ""
        ctx.error(f"{exc.strerror or exc}{where}; check the path and its permissions")
        status = 1
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly, traceback only on request
        _traceback(ctx)
        ctx.error(f"internal error: {type(exc).__name__}: {exc} (this is a kvmnet bug; rerun "
                  "with --debug for the traceback and report it)")
        status = 1
    if ctx.trailer:
        ctx.extra("\n")
    ctx.stdout.flush()
    return status


def session(ctx: Ctx, body: Callable[[], int]) -> int:
    """One command line's run: a closed pipe or Ctrl-C end it quietly, the connection closes."""
    try:
        return body()
    except BrokenPipeError:
        # The reader went away (kvmnet net-list | head): not an error of ours.
        silence_stdout()
        return 1
    except KeyboardInterrupt:
        ctx.error("interrupted")
        return 130
    finally:
        ctx.close()


def _traceback(ctx: Ctx) -> None:
    if ctx.debug:
        import traceback

        traceback.print_exc(file=ctx.stderr)


def log_host_changes(stream: TextIO) -> None:
    """``--debug``: every host change on stderr in shell form, like ``sh -x`` (``+ ip link ...``)."""
    import logging

    handler = logging.StreamHandler(stream)
    handler.set_name("kvmnet-cli")
    handler.setFormatter(logging.Formatter("+ %(message)s"))
    logger = logging.getLogger("kvmnet")
    for old in [h for h in logger.handlers if h.get_name() == "kvmnet-cli"]:
        logger.removeHandler(old)  # main() may run more than once in one process
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
