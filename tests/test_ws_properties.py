"""Connection properties: splits never matter, garbage never crashes.

Valid frame streams are generated together with the events they must give
(a model), so the first property checks against the model and not against
the connection itself.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ws_support import (
    BINARY, CONTINUATION, PING, PONG, TEXT, ClientDeflater, frame, server_frames, summarize)
from zerodep_http.ws_deflate import DeflateParameters
from zerodep_http.ws_errors import WebSocketError
from zerodep_http.ws_protocol import (
    BinaryMessage, Close, ConnectionState, Ping, Pong, TextMessage, WebSocketConnection)

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

masks = st.binary(min_size=4, max_size=4)
control_payloads = st.binary(max_size=125)


@st.composite
def cuts(draw, size: int) -> list[int]:
    return sorted(draw(st.sets(st.integers(0, size), max_size=6)))


def pieces(data: bytes, offsets: list[int]) -> list[bytes]:
    return [data[start:end] for start, end in zip([0, *offsets], [*offsets, len(data)])]


@st.composite
def streams(draw) -> tuple[bytes, list, list, DeflateParameters | None]:
    """(raw client bytes, the events they must give, the pongs they must
    draw, the deflate parameters or None)."""
    deflate = None
    deflater = None
    if draw(st.booleans()):
        no_context_takeover = draw(st.booleans())
        deflate = DeflateParameters(client_no_context_takeover=no_context_takeover)
        deflater = ClientDeflater(no_context_takeover=no_context_takeover)
    raw, events, pongs = b"", [], []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(control_payloads)
            raw += frame(PING if kind == "ping" else PONG, payload, mask=draw(masks))
            events.append(Ping(payload) if kind == "ping" else Pong(payload))
            if kind == "ping":
                pongs.append(("pong", payload))
            continue
        if kind == "text":
            message = draw(st.text(max_size=60))
            data, opcode = message.encode("utf-8"), TEXT
        else:
            message = draw(st.binary(max_size=300))
            data, opcode = message, BINARY
        compressed = deflater is not None and draw(st.booleans())
        wire = deflater.compress(data) if compressed else data
        # Fragment anywhere (inside UTF-8 sequences too), pings between.
        fragments = pieces(wire, draw(cuts(len(wire))))
        for index, piece in enumerate(fragments):
            raw += frame(opcode if index == 0 else CONTINUATION, piece,
                         fin=index == len(fragments) - 1,
                         rsv=4 if compressed and index == 0 else 0, mask=draw(masks))
            if index < len(fragments) - 1 and draw(st.integers(0, 3)) == 0:
                payload = draw(control_payloads)
                raw += frame(PING, payload, mask=draw(masks))
                events.append(Ping(payload))
                pongs.append(("pong", payload))
        events.append(TextMessage(message) if kind == "text" else BinaryMessage(message))
    code = draw(st.sampled_from([1000, 1001, 3000, 4999]))
    raw += frame(0x8, code.to_bytes(2, "big") + b"done", mask=draw(masks))
    events.append(Close(code, "done"))
    return raw, events, [*pongs, ("close", code)], deflate


def feed(chunks: list[bytes], deflate, max_message_size: int = 1 << 20):
    """(events, summary of what was sent, close code of a failure or None)."""
    connection = WebSocketConnection(max_message_size=max_message_size, deflate=deflate)
    events, sent, error = [], [], None
    try:
        for chunk in chunks:
            connection.receive_data(chunk)
            events.extend(connection.events())
        connection.receive_eof()
        events.extend(connection.events())
    except WebSocketError as exc:
        error = exc.code
        assert connection.state is ConnectionState.FAILED
    sent = summarize(server_frames(connection.data_to_send()))
    return events, sent, error


@FAST
@given(streams(), st.data())
def test_any_split_of_a_valid_stream_gives_the_model_events(stream, data) -> None:
    raw, events, sent, deflate = stream
    assert feed([raw], deflate) == (events, sent, None)
    chunks = pieces(raw, data.draw(cuts(len(raw))))
    assert feed(chunks, deflate) == (events, sent, None)


def _check_failure(outcome) -> None:
    events, sent, error = outcome
    for event in events:
        assert isinstance(event, (TextMessage, BinaryMessage, Ping, Pong, Close))
    if error is not None:
        assert error in (1002, 1007, 1009)
        assert sent[-1] == ("close", error)
        assert [item for item in sent if item[0] == "close"] == [("close", error)]
    else:
        assert isinstance(events[-1], Close), "without an error, input ends in a close"


garbage_settings = st.sampled_from([None, DeflateParameters()])


@FAST
@given(st.binary(max_size=400), garbage_settings, st.integers(1, 300), st.data())
def test_garbage_gives_a_close_code_never_a_crash(raw, deflate, max_size, data) -> None:
    whole = feed([raw], deflate, max_size)
    _check_failure(whole)
    split = feed(pieces(raw, data.draw(cuts(len(raw)))), deflate, max_size)
    assert split == whole


@FAST
@given(streams(), st.data())
def test_corrupted_valid_streams_fail_with_a_close_code(stream, data) -> None:
    """Garbage that gets past the first header: a valid stream with a few
    bytes changed, cut short or with bytes inserted."""
    raw, _events, _sent, deflate = stream
    corrupted = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(corrupted) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            corrupted[position] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            corrupted[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif len(corrupted) > 1:
            del corrupted[position]
    corrupted = bytes(corrupted)
    max_size = data.draw(st.sampled_from([1 << 20, 64]))
    whole = feed([corrupted], deflate, max_size)
    _check_failure(whole)
    assert feed(pieces(corrupted, data.draw(cuts(len(corrupted)))), deflate, max_size) == whole
