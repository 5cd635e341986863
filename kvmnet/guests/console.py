"""``kvmnet console``: the guest's serial console on the terminal, like ``virsh console``.

The terminal goes into raw mode and bytes are copied both ways between it and QEMU's
serial socket until the user types the escape character ``^]`` (0x1d) or the guest goes
away.  Only one client at a time can hold a QEMU socket console.
"""
from __future__ import annotations

import os
import select
import socket
import termios
import tty

ESCAPE = 0x1D  # ^]


def attach(sock_path: str, in_fd: int, out_fd: int, escape: int = ESCAPE) -> str:
    """Relay until ``escape`` is typed ("escape") or the console closes ("closed")."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(sock_path)
    except OSError:
        sock.close()
        raise
    saved = None
    if os.isatty(in_fd):
        saved = termios.tcgetattr(in_fd)
        tty.setraw(in_fd)
    try:
        while True:
            ready, _, _ = select.select([in_fd, sock.fileno()], [], [])
            if sock.fileno() in ready:
                data = sock.recv(65536)
                if not data:
                    return "closed"
                _write_all(out_fd, data)
            if in_fd in ready:
                data = os.read(in_fd, 4096)
                if not data:
                    return "closed"
                cut = data.find(bytes([escape]))
                if cut >= 0:
                    if cut:
                        sock.sendall(data[:cut])
                    return "escape"
                sock.sendall(data)
    finally:
        if saved is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
        sock.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
