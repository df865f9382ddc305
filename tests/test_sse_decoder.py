"""The chunk-at-a-time event-stream decoder, against the WHATWG rules, however the bytes are split."""

from __future__ import annotations

import pytest

from taskboard.client.sse import SSEChunkDecoder


def decode(stream: bytes, cut: int | None = None) -> list[tuple[str, str, str, int | None]]:
    decoder = SSEChunkDecoder()
    pieces = [stream] if cut is None else [stream[i:i + cut] for i in range(0, len(stream), cut)]
    events = [e for piece in pieces for e in decoder.feed(piece)] + decoder.close()
    return [(e.event, e.data, e.id, e.retry) for e in events]


STREAM = (b"\xef\xbb\xbfretry: 1000\n\n"
          b": a comment\n"
          b"id: 7\ndata: {\"a\": 1}\n\n"
          b"id: 8\r\nevent: progress\r\ndata: first\r\ndata:second\r\n\r\n"
          b"id: 9\rdata: caf\xc3\xa9 \xe2\x8f\x8e\r\r"
          b"event: end\ndata\n\n"
          b"data: never finished\n")

EXPECTED = [
    ("message", "", "", 1000),
    ("message", '{"a": 1}', "7", None),
    ("progress", "first\nsecond", "8", None),
    ("message", "café ⏎", "9", None),
    ("end", "", "", None),
]


@pytest.mark.parametrize("cut", [None, 1, 2, 3, 5, 64])
def test_every_split_of_the_bytes_decodes_the_same(cut: int | None) -> None:
    assert decode(STREAM, cut) == EXPECTED


def test_field_rules() -> None:
    assert decode(b"id: 1\0x\ndata: a\n\n") == [("message", "a", "", None)]  # an id with NUL is ignored
    assert decode(b"retry: 5s\ndata: a\n\n") == [("message", "a", "", None)]  # retry must be digits
    assert decode(b"data:  two spaces\n\n") == [("message", " two spaces", "", None)]  # only one space goes
    assert decode(b"unknown: x\n\n") == []  # nothing to dispatch
    assert decode(b"data: held\n\r") == [("message", "held", "", None)]  # a final CR ends the block
