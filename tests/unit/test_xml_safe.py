"""Hostile-input tests for kvmnet.xmlio.safe.parse_document."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from kvmnet.errors import XMLParseError
from kvmnet.xmlio.network import parse_network
from kvmnet.xmlio.safe import MAX_DOCUMENT_BYTES, parse_document

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<network><name>&lol9;</name></network>
"""


def test_plain_document_parses() -> None:
    root = parse_document("<network><name>n</name></network>")
    assert root.tag == "network"
    assert root[0].text == "n"


def test_bytes_and_xml_declaration_with_encoding() -> None:
    data = "<?xml version='1.0' encoding='UTF-8'?>\n<network><name>n</name></network>"
    assert parse_document(data).tag == "network"
    assert parse_document(data.encode()).tag == "network"


def test_billion_laughs_rejected_without_expansion() -> None:
    start = time.monotonic()
    with pytest.raises(XMLParseError, match="DOCTYPE"):
        parse_network(BILLION_LAUGHS)
    assert time.monotonic() - start < 1.0


def test_external_entity_rejected_and_file_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    before = secret.stat().st_atime_ns
    doc = (f'<?xml version="1.0"?>\n<!DOCTYPE n [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
           "<network><name>&xxe;</name></network>")
    with pytest.raises(XMLParseError) as exc:
        parse_network(doc)
    assert "TOP-SECRET-CONTENT" not in str(exc.value)
    assert "DOCTYPE" in str(exc.value)
    # The file was never opened by the parser (atime unchanged even with strictatime).
    assert secret.stat().st_atime_ns == before


def test_parameter_entity_and_external_dtd_rejected() -> None:
    doc = ('<!DOCTYPE network SYSTEM "http://127.0.0.1:9/evil.dtd">'
           "<network><name>x</name></network>")
    with pytest.raises(XMLParseError, match="DOCTYPE"):
        parse_document(doc)
    doc2 = '<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><x/>'
    with pytest.raises(XMLParseError):
        parse_document(doc2)


def test_undeclared_entity_is_malformed() -> None:
    with pytest.raises(XMLParseError, match="line 1"):
        parse_document("<network><name>&foo;</name></network>")


def test_ten_megabytes_fails_fast() -> None:
    big = "<network><name>" + ("x" * (10 * 1024 * 1024)) + "</name></network>"
    start = time.monotonic()
    with pytest.raises(XMLParseError, match="too large"):
        parse_network(big)
    with pytest.raises(XMLParseError, match="1 MiB"):
        parse_document(big.encode())
    assert time.monotonic() - start < 1.0


def test_just_under_limit_is_accepted() -> None:
    head, tail = "<network><name>", "</name></network>"
    data = head + "x" * (MAX_DOCUMENT_BYTES - len(head) - len(tail)) + tail
    assert len(data.encode()) == MAX_DOCUMENT_BYTES
    assert parse_document(data).tag == "network"


def test_malformed_xml_reports_line() -> None:
    with pytest.raises(XMLParseError) as exc:
        parse_document("<network>\n  <name>x</name>\n  <bridge>\n</network>\n")
    assert "line 4" in str(exc.value) or "line 3" in str(exc.value)
    assert "not well-formed" in str(exc.value)


def test_nul_byte_rejected() -> None:
    with pytest.raises(XMLParseError, match="NUL"):
        parse_document(b"<network><name>a\x00b</name></network>")
    with pytest.raises(XMLParseError, match="NUL"):
        parse_document("<network>\n<name>a\x00b</name></network>")


def test_empty_and_non_xml() -> None:
    with pytest.raises(XMLParseError, match="empty"):
        parse_document("   ")
    with pytest.raises(XMLParseError):
        parse_document("just text")
    with pytest.raises(XMLParseError):
        parse_document(12)  # type: ignore[arg-type]


def test_external_entity_to_fifo_never_opened(tmp_path: Path) -> None:
    """A parser that opened the entity's file would block forever on this FIFO."""
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    doc = (f'<!DOCTYPE n [<!ENTITY xxe SYSTEM "{fifo}">]>'
           "<network><name>&xxe;</name></network>")
    result: list[BaseException] = []

    def run() -> None:
        try:
            parse_network(doc)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            result.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():  # unblock the reader so the thread can finish, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("the parser opened the external entity's file")
    assert result and isinstance(result[0], XMLParseError)
