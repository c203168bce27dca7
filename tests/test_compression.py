"""gzip: Accept-Encoding, which responses to compress, whole and streamed
bodies, and the header changes."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zerodep_http.compression import (MINIMUM_SIZE, GzipStream, accepts_gzip, compress_body,
                                      gzip_body, is_compressible, is_compressible_type,
                                      mark_gzipped, parse_accept_encoding, start_gzip_stream)
from zerodep_http.responses import Response
from zerodep_http.vary import add_vary

TEXT = b"The quick brown fox jumps over the lazy dog. " * 100


@pytest.mark.parametrize("header, expected", [
    (None, {}),
    ("", {}),
    ("gzip", {"gzip": 1.0}),
    ("gzip, deflate, br, zstd", {"gzip": 1.0, "deflate": 1.0, "br": 1.0, "zstd": 1.0}),
    (" GZip ;Q=0.5 , *;q=0", {"gzip": 0.5, "*": 0.0}),
    ("gzip;q=1.000, identity;q=0.001", {"gzip": 1.0, "identity": 0.001}),
    ("gzip;q=0.5;level=9", {"gzip": 0.5}),
    ("gzip;q=0.3, gzip;q=1", {"gzip": 0.3}),
    # Malformed elements are skipped, the others kept.
    ("gzip;q=2, br", {"br": 1.0}),
    ("gzip;q=0.1234, br", {"br": 1.0}),
    ("gzip;q=, br", {"br": 1.0}),
    ("gzip;q=abc, br", {"br": 1.0}),
    ("g zip, br, , ;q=1, \x00", {"br": 1.0}),
])
def test_parse_accept_encoding(header, expected):
    assert parse_accept_encoding(header) == expected


@pytest.mark.parametrize("header, expected", [
    (None, False),
    ("", False),
    ("gzip", True),
    ("GZIP", True),
    ("x-gzip", True),
    ("deflate, gzip, br, zstd", True),  # curl --compressed
    ("gzip, deflate, br, zstd", True),  # browsers
    ("gzip;q=0", False),
    ("gzip; q=0.000", False),
    ("gzip;q=0.001", True),
    ("*", True),
    ("*;q=0", False),
    ("gzip;q=0, *", False),
    ("*, gzip;q=0", False),
    ("br;q=1.0, *;q=0.1", True),
    ("deflate, br", False),
    ("identity", False),
    ("gzip;q=0.5, identity", False),
    ("gzip;q=0.5, identity;q=0.5", True),
    ("gzip, identity;q=0", True),
    ("gzip;q=2, *", True),
    ("gzip;q=2", False),
])
def test_accepts_gzip(header, expected):
    assert accepts_gzip(header) is expected


@given(st.text())
def test_accept_encoding_never_raises(header):
    assert isinstance(accepts_gzip(header), bool)


@pytest.mark.parametrize("content_type, expected", [
    ("text/html; charset=utf-8", True),
    ("text/plain", True),
    ("TEXT/CSS", True),
    ("text/event-stream", True),
    ("application/json", True),
    ("application/problem+json", True),
    ("application/javascript; charset=utf-8", True),
    ("application/xml", True),
    ("application/atom+xml", True),
    ("image/svg+xml", True),
    ("application/x-ndjson", True),
    ("font/ttf", True),
    ("image/png", False),
    ("image/jpeg", False),
    ("font/woff2", False),
    ("application/gzip", False),
    ("application/zip", False),
    ("application/octet-stream", False),
    ("application/pdf", False),
    ("video/mp4", False),
    ("", False),
    (None, False),
])
def test_compressible_types(content_type, expected):
    assert is_compressible_type(content_type) is expected


@pytest.mark.parametrize("status, headers, size, expected", [
    (200, {"content-type": "text/html"}, MINIMUM_SIZE, True),
    (200, {"content-type": "text/html"}, MINIMUM_SIZE - 1, False),
    (200, {"content-type": "text/html"}, None, True),  # a stream
    (404, {"content-type": "application/json"}, 5000, True),
    (200, {"content-type": "image/png"}, 5000, False),
    (200, {}, 5000, False),
    (204, {"content-type": "text/html"}, 5000, False),
    (206, {"content-type": "text/html"}, 5000, False),
    (304, {"content-type": "text/html"}, 5000, False),
    (101, {"content-type": "text/html"}, 5000, False),
    (200, {"content-type": "text/html", "content-encoding": "br"}, 5000, False),
    (200, {"content-type": "text/html", "content-range": "bytes 0-9/10"}, 5000, False),
    (200, {"content-type": "text/html", "cache-control": "public, No-Transform"}, 5000, False),
    (200, {"content-type": "text/html", "cache-control": "no-cache"}, 5000, True),
])
def test_which_responses_are_compressible(status, headers, size, expected):
    assert is_compressible(status, headers, size) is expected


def test_the_minimum_size_is_a_setting():
    headers = {"content-type": "text/html"}
    assert is_compressible(200, headers, 10, minimum_size=0)
    assert not is_compressible(200, headers, 4095, minimum_size=4096)


# -- whole bodies --------------------------------------------------------------------


@given(st.binary(max_size=5000), st.integers(1, 9))
def test_gzip_body_decompresses_to_the_body(body, level):
    assert gzip.decompress(gzip_body(body, level)) == body


def test_gzip_body_is_the_same_every_time():
    assert gzip_body(TEXT) == gzip_body(TEXT)
    assert gzip_body(TEXT)[4:8] == b"\x00\x00\x00\x00"  # no timestamp
    assert len(gzip_body(TEXT)) < len(TEXT) // 10


def test_compress_body_for_a_client_that_accepts_gzip():
    headers = {"content-type": "text/html; charset=utf-8", "etag": '"abc"',
               "content-length": str(len(TEXT)), "vary": "Cookie"}
    body = compress_body("gzip, deflate, br", 200, headers, TEXT)
    assert gzip.decompress(body) == TEXT
    assert headers == {"content-type": "text/html; charset=utf-8", "etag": 'W/"abc"',
                       "vary": "Cookie, Accept-Encoding", "content-encoding": "gzip"}


def test_compress_body_for_a_client_that_does_not_still_varies():
    headers = {"content-type": "text/html"}
    assert compress_body("br", 200, headers, TEXT) is TEXT
    assert headers == {"content-type": "text/html", "vary": "Accept-Encoding"}


@pytest.mark.parametrize("status, headers, body", [
    (200, {"content-type": "image/png"}, TEXT),
    (200, {"content-type": "text/html"}, b"short"),
    (206, {"content-type": "text/html"}, TEXT),
    (200, {"content-type": "text/html", "content-encoding": "gzip"}, TEXT),
])
def test_compress_body_leaves_what_is_not_compressible_alone(status, headers, body):
    before = dict(headers)
    assert compress_body("gzip", status, headers, body) is body
    assert headers == before


def test_a_body_gzip_cannot_shrink_is_sent_as_it_is():
    noise = os.urandom(4096)
    headers = {"content-type": "text/plain", "etag": '"abc"'}
    assert compress_body("gzip", 200, headers, noise) is noise
    assert headers == {"content-type": "text/plain", "etag": '"abc"', "vary": "Accept-Encoding"}


def test_compress_body_works_on_response_headers():
    response = Response(TEXT.decode(), headers={"ETag": '"v1"', "Vary": "Origin"})
    response.body = compress_body("gzip", 200, response.headers, response.body)
    assert gzip.decompress(response.body) == TEXT
    fields = response.head_prefix().decode("latin-1")
    assert "content-encoding: gzip\r\n" in fields
    assert "vary: Origin, Accept-Encoding\r\n" in fields
    assert 'etag: W/"v1"\r\n' in fields


@pytest.mark.parametrize("etag, expected", [
    ('"abc"', 'W/"abc"'),
    ('W/"abc"', 'W/"abc"'),
    (None, None),
])
def test_mark_gzipped_weakens_a_strong_etag(etag, expected):
    headers = {} if etag is None else {"etag": etag}
    mark_gzipped(headers)
    assert headers.get("etag") == expected
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize("existing, expected", [
    (None, "Accept-Encoding"),
    ("", "Accept-Encoding"),
    ("Origin", "Origin, Accept-Encoding"),
    ("accept-encoding", "accept-encoding"),
    ("Origin,Cookie", "Origin, Cookie, Accept-Encoding"),
    ("*", "*"),
    ("Origin, *", "*"),
])
def test_vary_merging(existing, expected):
    headers = {} if existing is None else {"vary": existing}
    add_vary(headers, "Accept-Encoding")
    assert headers["vary"] == expected


# -- streamed bodies ---------------------------------------------------------------------


def test_each_event_can_be_decompressed_as_soon_as_it_is_sent():
    stream = GzipStream()
    reader = zlib.decompressobj(wbits=31)
    for index in range(20):
        event = f"id: {index}\ndata: {'tick ' * index}\n\n"
        piece = stream.compress(event)
        assert piece
        assert reader.decompress(piece) == event.encode()
    assert reader.decompress(stream.finish()) == b""
    assert reader.eof and reader.unused_data == b""


@given(st.lists(st.binary(max_size=300), max_size=12))
def test_a_stream_decompresses_piece_by_piece_and_whole(pieces):
    stream = GzipStream()
    reader = zlib.decompressobj(wbits=31)
    sent = []
    for piece in pieces:
        compressed = stream.compress(piece)
        if not piece:
            assert compressed == b""  # never an empty chunk, which would end the body
        assert reader.decompress(compressed) == piece
        sent.append(compressed)
    sent.append(stream.finish())
    reader.decompress(sent[-1])
    assert reader.eof
    assert gzip.decompress(b"".join(sent)) == b"".join(pieces)


def test_start_gzip_stream():
    headers = {"content-type": "text/event-stream", "cache-control": "no-cache"}
    stream = start_gzip_stream("gzip", 200, headers)
    assert isinstance(stream, GzipStream)
    assert headers == {"content-type": "text/event-stream", "cache-control": "no-cache",
                       "content-encoding": "gzip", "vary": "Accept-Encoding"}
    headers = {"content-type": "text/event-stream"}
    assert start_gzip_stream("identity", 200, headers) is None
    assert headers == {"content-type": "text/event-stream", "vary": "Accept-Encoding"}
    headers = {"content-type": "application/octet-stream"}
    assert start_gzip_stream("gzip", 200, headers) is None
    assert headers == {"content-type": "application/octet-stream"}
