"""The HTTP/1.1 front door of the local REST API stage: what reaches `ApiGateway.handle`, and what
is answered before it.

Emulates API Gateway's answers to requests no route ever sees, each a JSON `{"message": ...}` body
with `x-amzn-RequestId` (never the HTML pages of Python's `BaseHTTPRequestHandler.send_error`):

    any method token, upper- or lower-case      passed to the route table, which answers 403
                                                Missing Authentication Token for a method the
                                                API does not have (TRACE, PROPFIND, `post`)
    request line over 10240 bytes               414 (API Gateway's quota: 10240 bytes of request
                                                line and header values in all)
    request line + header values over 10240,    431
      a header line over 64 KiB, > 100 headers
    not a request line, HTTP/0.9, a method      400
      that is not an RFC 9110 token
    HTTP/2 or later on this HTTP/1.1 port       505
    Content-Length not one decimal count        400; several differing values, a sign, `0x`,
                                                `_` or a list of different numbers included.
                                                Equal repeated values count as one (RFC 9112 6.3).
    Transfer-Encoding other than `chunked`,     400 (both together is how requests are smuggled)
      or with a Content-Length too
    a chunk size that is not hex digits,        400
      chunk data not followed by CRLF
    body over the stage's limit (10 MB)         413 Request Too Long, answered from the
                                                Content-Length before the body is read
    anything the gateway fails on unexpectedly  500 Internal server error (logged)

A refused request reaches no function and writes nothing. When a request is answered before its
body was read (or its framing cannot be trusted), the connection is closed the way a careful
server does it: the answer is sent, the write side shut down, then what the client still sends is
read and discarded (up to `LINGER_BYTES` / `LINGER_S`), so the client receives the answer instead
of a TCP reset that would destroy it unread ("lingering close").

Known gaps vs AWS: in the package docstring (`emulation.apigateway`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

log = logging.getLogger("localcloud.api")

MAX_REQUEST_HEAD = 10240
"""API Gateway quota: total combined size of the request line and header values, in bytes."""
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
LINGER_BYTES = 64 * 1024 * 1024
LINGER_S = 10.0
_LINGER_IDLE_S = 2.0
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
CHUNKED = -1


class RequestTooLong(Exception):
    """The body is over the stage's limit (413)."""


class BadFraming(Exception):
    """Where the body ends cannot be trusted (400); the connection must not be reused."""


def body_length(headers, max_body_bytes: int) -> int:
    """The body's length from Content-Length, `CHUNKED`, or 0; raises BadFraming / RequestTooLong."""
    lengths = headers.get_all("Content-Length") or []
    codings = headers.get_all("Transfer-Encoding") or []
    if codings:
        if lengths:
            raise BadFraming(
                "Bad Request: both Transfer-Encoding and Content-Length are set: send one of them"
            )
        named = [c.strip().lower() for value in codings for c in value.split(",")]
        if named != ["chunked"]:
            raise BadFraming(
                f"Bad Request: Transfer-Encoding {', '.join(codings)!r} is not supported: "
                "send the body with a Content-Length or as chunked alone"
            )
        return CHUNKED
    if not lengths:
        return 0
    values = [v.strip() for value in lengths for v in value.split(",")]
    if not all(_DIGITS.fullmatch(v) for v in values):
        raise BadFraming(
            f"Bad Request: Content-Length {', '.join(lengths)!r} is not a byte count: "
            "send one decimal number without sign or spaces"
        )
    if len({v.lstrip("0") for v in values}) != 1:
        raise BadFraming(
            f"Bad Request: Content-Length is given with different values "
            f"({', '.join(lengths)}): send one"
        )
    if len(values[0]) > 18 or int(values[0]) > max_body_bytes:  # 18 digits: no giant int parsed
        raise RequestTooLong()
    return int(values[0])


def read_chunked(rfile, max_body_bytes: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(MAX_HEADER_LINE)
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise BadFraming(f"Bad Request: chunk size {line[:40]!r} is not hexadecimal digits")
        size = int(match.group(1), 16)
        if size == 0:
            for _ in range(MAX_HEADERS):
                if not rfile.readline(MAX_HEADER_LINE).strip():  # trailers end with an empty line
                    return b"".join(parts)
            raise BadFraming("Bad Request: more than 100 trailer fields")
        total += size
        if total > max_body_bytes:
            raise RequestTooLong()
        data = rfile.read(size)
        if len(data) < size:
            raise BadFraming("Bad Request: the connection closed inside a chunk")
        parts.append(data)
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise BadFraming("Bad Request: chunk data is not followed by CRLF")


def json_error(
    status: int, message: str, request_id: str, error_type: str | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return status, headers, json.dumps({"message": message}).encode()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


Handle = Callable[..., tuple[int, list[tuple[str, str]], bytes]]


def handler_class(handle: Handle, max_body_bytes: Callable[[], int]):
    """A request handler answering through `handle(method, target, header_pairs, read_body, ip)`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one response = one write; no 40 ms delayed-ACK stalls
        server_version = "localcloud-apigateway"

        def handle_one_request(self) -> None:
            self._body_unread = False
            self.raw_requestline = self.rfile.readline(MAX_HEADER_LINE + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > MAX_HEADER_LINE:
                self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"
                return self._refuse(414, self._uri_too_long(len(self.raw_requestline)))
            if not self.parse_request():  # its refusals come through send_error, below
                self.close_connection = True
                return
            problem = self._head_problem()
            if problem is not None:
                return self._refuse(*problem)
            try:
                self._dispatch()
            except Exception:  # the gateway itself failed: still a JSON answer, as AWS's 500
                log.exception("the gateway failed on %s %s", self.command, self.path[:200])
                self._refuse(500, "Internal server error", "InternalServerErrorException")

        def _head_problem(self) -> tuple[int, str] | None:
            if self.request_version == "HTTP/0.9":
                return 400, "Bad Request: HTTP/0.9 requests are not served: send HTTP/1.1"
            if not _TOKEN.fullmatch(self.command):
                return 400, f"Bad Request: method {self.command[:40]!r} is not an HTTP method token"
            line = len(self.raw_requestline.rstrip(b"\r\n"))
            if line > MAX_REQUEST_HEAD:
                return 414, self._uri_too_long(line)
            size = line + sum(len(v.encode("latin-1", "replace")) for v in self.headers.values())
            if size > MAX_REQUEST_HEAD:
                return 431, (
                    f"Request Header Fields Too Large: the request line and header values "
                    f"are {size} bytes; API Gateway accepts {MAX_REQUEST_HEAD}"
                )
            return None

        @staticmethod
        def _uri_too_long(size: int) -> str:
            return (
                f"Request-URI Too Long: the request line is {size} bytes; API Gateway accepts "
                f"{MAX_REQUEST_HEAD} bytes of request line and header values"
            )

        def handle_expect_100(self) -> bool:
            try:  # a body that will be refused is not asked for: the client gets the answer at once
                body_length(self.headers, max_body_bytes())
            except (BadFraming, RequestTooLong):
                return True
            return super().handle_expect_100()

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            # BaseHTTPRequestHandler refuses bad request lines and headers through here.
            text = _reason(code) + (f": {message}" if message and message != _reason(code) else "")
            self._refuse(code, text)

        def _read_body(self) -> bytes:
            try:
                length = body_length(self.headers, max_body_bytes())
                if length == CHUNKED:
                    return read_chunked(self.rfile, max_body_bytes())
            except (BadFraming, RequestTooLong):
                self._body_unread = True  # the unread body would poison the next request
                raise
            data = self.rfile.read(length) if length else b""
            if len(data) < length:
                self._body_unread = True
                raise BadFraming(
                    "Bad Request: the connection closed before Content-Length bytes arrived"
                )
            return data

        def _dispatch(self) -> None:
            status, headers, body = handle(
                self.command,
                self.path,
                list(self.headers.items()),
                self._read_body,
                self.client_address[0],
            )
            if self._body_unread:
                self.close_connection = True
            self._send(status, headers, body)

        def _refuse(self, status: int, message: str, error_type: str | None = None) -> None:
            if error_type is None and status == 400:
                error_type = "BadRequestException"
            self.close_connection = True
            self._body_unread = True
            self._send(*json_error(status, message, str(uuid.uuid4()), error_type))

        def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            head = [f"HTTP/1.1 {status} {_reason(status)}\r\n"]
            head += [f"{name}: {value}\r\n" for name, value in headers]
            head.append(f"Content-Length: {len(body)}\r\n")
            if self.close_connection:
                head.append("Connection: close\r\n")
            head.append("\r\n")
            payload = "".join(head).encode("latin-1") + (b"" if self.command == "HEAD" else body)
            try:
                self.wfile.write(payload)
                self.wfile.flush()
            except OSError:
                self.close_connection = True
                return
            self.log_request(status, len(body))
            if self.close_connection and self._body_unread:
                self._linger()

        def _linger(self) -> None:
            """Shut the write side, then read and drop what the client still sends, so that closing
            does not reset the connection before the client has read the answer."""
            sock = self.connection
            try:
                sock.shutdown(socket.SHUT_WR)
                deadline, left = time.monotonic() + LINGER_S, LINGER_BYTES
                while left > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    sock.settimeout(min(_LINGER_IDLE_S, remaining))
                    data = sock.recv(min(1 << 20, left))
                    if not data:
                        break
                    left -= len(data)
            except OSError:  # a reset or an idle client: nothing more to do for it
                pass

        def log_message(self, fmt: str, *args: Any) -> None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s " + fmt, self.client_address[0], *args)

    return Handler
