"""The fast JSON encoder leans on the undocumented json.encoder.c_make_encoder:
pinned here, with the fallback to json.dumps when it is gone or changed."""

from __future__ import annotations

import json
import pytest

from zerodep_http import responses

DOCUMENTS = [
    {"message": "Hello, World!"},
    [1, 2.5, -3, None, True, False, "é\"\n\u2028", {"nested": [[], {}]}],
    {"big": 10 ** 30, "small": 1e-300, "unicode": "日本語", "escape": "\x00\x1f\\"},
    "a string", 42, None,
]


def test_this_python_has_the_c_encoder_with_the_signature_used():
    make = json.encoder.c_make_encoder
    assert make is not None
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    encode = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",",
                  False, False, True)
    assert "".join(encode({"a": [1]}, 0)) == '{"a":[1]}'


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_fast_encoder_agrees_with_json_dumps(document):
    expected = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    assert responses._json_encode(document) == expected
    if isinstance(document, (dict, list)):  # what a handler's return becomes
        assert responses.coerce_response(document).body == expected.encode()


def refuses_the_call(*args):
    raise TypeError("c_make_encoder() takes 10 arguments")


def encodes_wrong(*args):
    return lambda data, level: ["wrong"]


@pytest.mark.parametrize("replacement", [None, refuses_the_call, encodes_wrong])
def test_a_missing_or_changed_c_encoder_falls_back_to_json(replacement):
    chunks = responses._make_json_chunks(replacement)
    assert "".join(chunks({"a": [1, "é"]}, 0)) == '{"a":[1,"é"]}'
