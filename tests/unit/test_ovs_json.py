"""kvmnet/host/ovsjson.py: the ``ovs`` library's JSON-RPC reading, on the C decoder.

Messages arrive back to back, cut anywhere (a socket read is 4 KiB); the parser must take
exactly one message's characters, as the library's own lexer does, and give what it gives."""
from __future__ import annotations

import json
import random

from kvmnet.host.ovsjson import Parser

MESSAGES = [
    {"id": None, "method": "update3", "params": ["x", "0", {"Port": {"u1": {"insert": {
        "name": "vnet0", "tag": 10, "external_ids": ["map", [["k", "v \"q\" é"]]]}}}}]},
    {"id": 4, "result": [{"uuid": ["uuid", "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"]}, {}],
     "error": None},
    {"id": "echo", "method": "echo", "params": []},
    {"big": ["x" * 9000, 1.5, -3, True, False, None]},
]


def _read(stream: str, cuts: list[int]) -> list[object]:
    """What ovs.jsonrpc.Connection.recv does with a parser, chunk by chunk."""
    out = []
    parser = None
    pending = ""
    pos = 0
    for end in [*cuts, len(stream)]:
        pending += stream[pos:end]
        pos = end
        while pending:
            if parser is None:
                parser = Parser()
            pending = pending[parser.feed(pending):]
            if parser.is_done():
                out.append(parser.finish())
                parser = None
            else:
                break
    return out


def test_messages_cut_anywhere_come_out_whole() -> None:
    stream = "".join(json.dumps(m) + (" " if i % 2 else "") for i, m in enumerate(MESSAGES))
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 30)))
        assert _read(stream, cuts) == MESSAGES


def test_one_document_and_its_errors() -> None:
    p = Parser(check_trailer=True)
    p.feed('{"a": [1, 2]}  ')
    assert p.finish() == {"a": [1, 2]}
    p = Parser(check_trailer=True)
    p.feed('{"a": 1} x')
    assert p.finish() == "trailing garbage at end of input"
    p = Parser(check_trailer=True)
    p.feed("")
    assert p.finish() == "empty input stream"
