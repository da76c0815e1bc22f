"""Hostile transport at the real local cloud's REST API: raw sockets, because an HTTP client library
refuses to send most of these requests.

Every answer must be what API Gateway sends: a JSON `{"message": ...}` body with an AWS status
(403 Missing Authentication Token for a method the API does not have, 413 for a body over 10 MB,
400 for a request whose framing or nesting cannot be trusted), never an HTML page, a dropped
connection or silence. And a refused request writes nothing: no record on any shard of the stream,
DynamoDB unchanged (`nothing_written`, as in test_stream_bad_input.py).

Runs on both targets (`--stack`): it reaches the cloud only over HTTP, boto3 and the runtime's
read-only status endpoints.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from urllib.parse import urlsplit

import httpx
import pytest

from .test_stream_bad_input import batch, nothing_written, sale

MB = 1024 * 1024


class Answer:
    def __init__(self, raw: bytes):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}

    def json(self):
        assert self.headers.get("content-type") == "application/json", (self.status_line, self.headers)
        return json.loads(self.body)


def _address(cloud) -> tuple[str, int, str]:
    url = urlsplit(cloud.api_url)
    return url.hostname, url.port, url.path  # path: "/v1"


def exchange(cloud, head: bytes, body: bytes = b"", *, timeout: float = 20.0) -> Answer:
    """Send `head` + `body` on a fresh connection; read one whole answer (Content-Length framed)."""
    host, port, _ = _address(cloud)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head + body)
        return _read_answer(sock)


def _read_answer(sock: socket.socket) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the gateway closed the connection without an answer (read {data[:200]!r})"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the gateway closed the connection in the middle of its answer"
        rest += chunk
    return Answer(head + b"\r\n\r\n" + rest[:length])


def request(cloud, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    _, _, stage = _address(cloud)
    lines = [f"{method} {stage}{path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def keyed(cloud, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("x-api-key", cloud.api_key), ("Content-Type", "application/json"), *extra]


def assert_gateway_json(answer: Answer, status: int, message_words: tuple[str, ...] = ()) -> dict:
    assert answer.status == status, (answer.status_line, answer.body[:500])
    doc = answer.json()
    assert isinstance(doc.get("message"), str) and doc["message"], doc
    for word in message_words:
        assert word in doc["message"], doc
    assert answer.headers.get("x-amzn-requestid"), answer.headers
    return doc


# ---------------------------------------------------------------------- 7. nesting
def _nested(depth: int, closed: bool = True) -> bytes:
    return b"[" * depth + (b"]" * depth if closed else b"")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"events": ' + _nested(100_000) + b"}", id="100000-deep"),
        pytest.param(b'{"events": ' + _nested(100_000, closed=False), id="100000-deep-unclosed"),
        pytest.param(b'{"events": [' + _nested(900) + b"]}", id="900-deep"),
        pytest.param(b'{"events": [{"x": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}]}", id="objects"),
    ],
)
def test_deeply_nested_json_is_a_400_json_answer_and_writes_nothing(local_cloud, body):
    head = request(local_cloud, "POST", "/events", keyed(local_cloud, ("Content-Length", str(len(body)))))
    with nothing_written(local_cloud):
        answer = exchange(local_cloud, head, body)
    doc = assert_gateway_json(answer, 400, ("Invalid request body",))
    assert "nested" in json.dumps(doc), doc


def _token(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_token(_nested(3000)), id="3000-deep"),
        pytest.param(_token(_nested(3000, closed=False)), id="3000-deep-unclosed"),
    ],
)
def test_a_deeply_nested_pagination_token_is_400_naming_next(local_cloud, token):
    r = httpx.get(f"{local_cloud.api_url}/customers/12346/invoices", params={"next": token},
                  headers={"x-api-key": local_cloud.api_key}, timeout=30)
    assert r.status_code == 400, r.text[:500]
    assert "next" in r.json()["message"]


# ---------------------------------------------------------------------- 8. methods and limits
@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "post", "Get", "CONNECT", "BREW"])
def test_unknown_and_lower_case_methods_are_403_missing_authentication_token(local_cloud, method):
    body = batch(sale(2))
    head = request(local_cloud, method, "/events", keyed(local_cloud, ("Content-Length", str(len(body)))))
    with nothing_written(local_cloud):
        answer = exchange(local_cloud, head, body)
    assert_gateway_json(answer, 403, ("Missing Authentication Token",))
    assert answer.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_a_request_line_over_the_limit_is_414_json(local_cloud):
    head = request(local_cloud, "GET", "/invoices/536365?pad=" + "x" * 70_000, keyed(local_cloud))
    assert_gateway_json(exchange(local_cloud, head), 414)


def test_a_url_over_api_gateways_10240_bytes_is_414_json(local_cloud):
    head = request(local_cloud, "GET", "/invoices/536365?pad=" + "x" * 11_000, keyed(local_cloud))
    assert_gateway_json(exchange(local_cloud, head), 414)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([("X-Big", "y" * 70_000)], id="one-line-over-64k"),
        pytest.param([(f"X-H{i}", "v") for i in range(150)], id="150-headers"),
        pytest.param([("Cookie", "c" * 11_000)], id="over-10240-bytes-in-all"),
    ],
)
def test_header_fields_over_the_limits_are_431_json(local_cloud, extra):
    head = request(local_cloud, "GET", "/invoices/536365", keyed(local_cloud, *extra))
    assert_gateway_json(exchange(local_cloud, head), 431)


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /v1/invoices/536365 HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /v1/invoices/536365 HTTP/1.x\r\nHost: x\r\n\r\n", 400),
        (b"G(T /v1/invoices/536365 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_malformed_request_lines_get_json_answers(local_cloud, raw, status):
    assert_gateway_json(exchange(local_cloud, raw), status)


# ---------------------------------------------------------------------- 9. framing
BAD_LENGTHS = [
    pytest.param(["-1"], id="minus-one"),
    pytest.param(["{n}", "{m}"], id="two-different"),
    pytest.param(["{n}, {m}"], id="two-different-in-one-field"),
    pytest.param(["+{n}"], id="plus-sign"),
    pytest.param(["0x{n:x}"], id="hex"),
    pytest.param(["{n_}"], id="underscore"),
    pytest.param(["{n} 1"], id="two-numbers"),
    pytest.param([""], id="empty"),
]


@pytest.mark.parametrize("lengths", BAD_LENGTHS)
def test_a_content_length_that_cannot_be_trusted_is_400_and_writes_nothing(local_cloud, lengths):
    body = batch(sale(2))
    n = len(body)
    values = [v.format(n=n, m=n + 1, n_=f"{str(n)[0]}_{str(n)[1:]}") for v in lengths]
    head = request(local_cloud, "POST", "/events", keyed(local_cloud, *(("Content-Length", v) for v in values)))
    with nothing_written(local_cloud):
        answer = exchange(local_cloud, head, body)
        assert_gateway_json(answer, 400, ("Content-Length",))
        assert answer.headers.get("connection") == "close"


def test_two_equal_content_lengths_are_one_and_the_control_case_is_written(local_cloud):
    """The control case of the test above: the same framing with a trustworthy length is served."""
    from .stream_support import StreamWatch, record_data

    event = sale(7)
    body = batch(event)
    head = request(local_cloud, "POST", "/events",
                   keyed(local_cloud, ("Content-Length", str(len(body))), ("Content-Length", str(len(body)))))
    watch = StreamWatch(local_cloud)
    answer = exchange(local_cloud, head, body)
    assert answer.status == 200, answer.body[:500]
    assert [json.loads(record_data(r))["event_id"] for r in watch.new_records()] == [event["event_id"]]


@pytest.mark.parametrize(
    "framing, chunks, word",
    [
        pytest.param([("Transfer-Encoding", "chunked"), ("Content-Length", "{n}")], None, "Transfer-Encoding",
                     id="chunked-and-length"),
        pytest.param([("Transfer-Encoding", "gzip, chunked")], None, "Transfer-Encoding", id="unknown-coding"),
        pytest.param([("Transfer-Encoding", "chunked")], "-{n:x}", "chunk size", id="negative-chunk"),
        pytest.param([("Transfer-Encoding", "chunked")], "0x{n:x}", "chunk size", id="hex-prefixed-chunk"),
        pytest.param([("Transfer-Encoding", "chunked")], "+{n:x}", "chunk size", id="plus-chunk"),
    ],
)
def test_chunked_framing_that_cannot_be_trusted_is_400_and_writes_nothing(local_cloud, framing, chunks, word):
    body = batch(sale(2))
    n = len(body)
    headers = [(k, v.format(n=n)) for k, v in framing]
    size = (chunks or "{n:x}").format(n=n)
    payload = size.encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
    head = request(local_cloud, "POST", "/events", keyed(local_cloud, *headers))
    with nothing_written(local_cloud):
        assert_gateway_json(exchange(local_cloud, head, payload), 400, (word,))


def test_a_body_of_11mb_gets_its_413_while_still_sending_and_nothing_is_written(local_cloud):
    """The answer comes before the body is read, and the client still receives it: the gateway
    reads and discards the rest instead of resetting the connection under the client's feet."""
    body = b" " * (11 * MB)
    head = request(local_cloud, "POST", "/events", keyed(local_cloud, ("Content-Length", str(len(body)))))
    host, port, _ = _address(local_cloud)
    sent: list[BaseException | None] = []
    with nothing_written(local_cloud), socket.create_connection((host, port), timeout=30) as sock:
        def send() -> None:
            try:
                sock.sendall(head + body)
                sent.append(None)
            except OSError as exc:
                sent.append(exc)

        sender = threading.Thread(target=send, name="sender")
        sender.start()
        answer = _read_answer(sock)
        sender.join(60)
        assert not sender.is_alive(), "the client could not finish sending: the gateway stopped reading"
    assert sent == [None], f"sending the body failed: {sent}"
    assert_gateway_json(answer, 413, ("Request Too Long",))
    assert answer.headers.get("connection") == "close"


def test_a_client_that_sends_everything_first_then_reads_gets_its_413(local_cloud):
    body = b" " * (11 * MB)
    head = request(local_cloud, "POST", "/events", keyed(local_cloud, ("Content-Length", str(len(body)))))
    with nothing_written(local_cloud):
        answer = exchange(local_cloud, head, body, timeout=60)
    assert_gateway_json(answer, 413, ("Request Too Long",))


def test_a_client_expecting_100_continue_is_refused_at_once_without_sending_the_body(local_cloud):
    """Expect: 100-continue with 11 MB announced: the final 413 comes instead of 100 Continue."""
    head = request(local_cloud, "POST", "/events",
                   keyed(local_cloud, ("Content-Length", str(11 * MB)), ("Expect", "100-continue")))
    with nothing_written(local_cloud):
        answer = exchange(local_cloud, head)
    assert_gateway_json(answer, 413, ("Request Too Long",))
