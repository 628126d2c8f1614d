"""The Starlette application: the live page, the JSON API and the command line's transport.

Safety follows Jupyter server's rules for a trusted local server: the Host header must name the
bound host or localhost (DNS rebinding gets 403); with a token, every request must carry it
(``Authorization: Bearer``, or the cookie the page gets when opened once with ``?token=``, named
with the host and port as Jupyter names its cookies so that two servers keep theirs), compared
in constant time (401); no CORS headers; bodies are JSON, bounded in size (413) and in the time
they take to arrive; every error is one JSON line ``{"error": ...}``, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attninspect.server import requests as parse
from attninspect.server.requests import MAX_BODY_BYTES, MAX_TEXT_BYTES, BadRequest
from attninspect.server.service import (
    Answer,
    Busy,
    ModelService,
    error_answer,
    first_page_work,
    json_answer,
    page_diff_work,
    page_work,
)

COOKIE = "attninspect-token"  # then the host and port: attninspect-token-127-0-0-1-8765
BODY_SECONDS = 10.0  # a body that has not fully arrived by then is refused (408)
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARDS = {"0.0.0.0", "::", ""}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
log = logging.getLogger("attninspect.server")


@dataclass
class Settings:
    """How the server was started."""

    host: str = "127.0.0.1"
    token: str | None = None
    extra_hosts: set[str] = field(default_factory=set)
    port: int = 8765

    @property
    def cookie(self) -> str:
        """The token cookie's name: a browser sends cookies to every port of a host, so the
        name carries the host and port (as Jupyter's), and two servers keep their own."""
        return re.sub(r"[^A-Za-z0-9]", "-", f"{COOKIE}-{self.host}-{self.port}")

    def host_allowed(self, header: str) -> bool:
        """Whether a Host header names this server: the bound host or localhost (any port)."""
        name = _hostname(header)
        if name is None:
            return False
        if self.host in WILDCARDS:  # bound to every interface: the token guards it
            return True
        allowed = LOOPBACK_NAMES | {self.host.strip("[]").lower()} | self.extra_hosts
        return name in allowed or name.endswith(".localhost")

    def token_ok(self, candidate: str | None) -> bool:
        if self.token is None:
            return True
        if candidate is None:
            return False
        return hmac.compare_digest(candidate.encode("utf-8"), self.token.encode("utf-8"))


def _hostname(header: str) -> str | None:
    """The host name of a Host header (``name``, ``name:port``, ``[v6]:port``), lower-cased."""
    header = header.strip().lower()
    if not header:
        return None
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else None
    name, _, port = header.partition(":")
    if port and not port.isdigit():
        with contextlib.suppress(ValueError):
            return str(ipaddress.IPv6Address(header))  # a bare IPv6 address
        return None
    return name


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(status: int, record: dict[str, Any]) -> Response:
    return _bytes(json_answer(record, status))


def _bytes(answer: Answer) -> Response:
    return Response(answer.body, answer.status, media_type="application/json")


class Guard:
    """Pure ASGI middleware: Host check (403), token (401), no CORS, security headers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        if not self.settings.host_allowed(headers.get("host", "")):
            message = "the Host header must name this server (localhost or the bound host)"
            await _json(403, {"error": message})(scope, receive, send)
            return
        if not self._authorised(scope, headers):
            query_token = _query_token(scope)
            if (
                query_token is not None
                and scope["path"] == "/"
                and self.settings.token_ok(query_token)
            ):
                await self._set_cookie(scope, receive, send)
                return
            message = "this server needs its token: Authorization: Bearer TOKEN, or open ?token="
            await _json(401, {"error": message})(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        if self.settings.token is None:
            return True
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and self.settings.token_ok(credentials.strip()):
            return True
        values = cookie_values(headers.get("cookie", ""), self.settings.cookie)
        return any(self.settings.token_ok(unquote(value)) for value in values)

    async def _set_cookie(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The token came once in the page's URL: keep it in a cookie, and drop it from the URL.
        The value is percent-encoded, so that any printable token is a plain cookie value."""
        response = RedirectResponse("/", status_code=303)
        value = quote(self.settings.token or "", safe="")
        response.set_cookie(self.settings.cookie, value, httponly=True, samesite="strict", path="/")
        await response(scope, receive, send)


def cookie_values(header: str, name: str) -> list[str]:
    """Every value of cookie ``name`` in a Cookie header, read leniently: another local app's
    cookie that `http.cookies` cannot parse (``prefs={"theme":"dark"}``) hides nothing."""
    values = []
    for part in header.split(";"):
        key, equals, value = part.partition("=")
        if equals and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    return values


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a server's token (None: it can): it travels in a URL, a cookie
    and a header, so it is printable ASCII and does not start or end with a space."""
    if not token.strip():
        return "is empty: give a token, or leave --token out"
    if not all(" " <= character <= "~" for character in token):
        return "must be printable ASCII (letters, digits, punctuation, spaces)"
    if token != token.strip():
        return "starts or ends with a space: drop it"
    return None


def _query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


async def read_json(request: Request) -> Any:
    """The request's JSON body: refused when it is not JSON (415, 422), too large (413) or slow
    to arrive (408)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(415, "send the body as JSON (Content-Type: application/json)")
    length = request.headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise BadRequest(400, "Content-Length: give the body's size in ASCII digits")
    if length is not None and int(length) > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        body = await asyncio.wait_for(collect(), BODY_SECONDS)
    except asyncio.TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {BODY_SECONDS:g} s") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest(422, "the body is not valid JSON") from None


def endpoint(
    service: ModelService, make: Callable[[Any], Callable[[], Answer]], transport: bool = False
) -> Callable[[Request], Any]:
    """A POST handler: parse the body, queue the work, answer its bytes; every failure is JSON."""

    async def handle(request: Request) -> Response:
        try:
            work = make(await read_json(request))
            return _bytes(await _unless_gone(request, service.call(work, transport)))
        except BadRequest as error:
            return _bytes(error_answer(error.status, str(error)))
        except Busy as error:
            return _json(503, {"error": str(error)})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody reads it

    return handle


async def _unless_gone(request: Request, answer: Awaitable[Answer]) -> Answer:
    """``answer``, unless the client leaves first: then its work is dropped if it has not
    begun (`ClientDisconnect`), so that nobody's forward waits behind an abandoned one."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    answering, leaving = asyncio.ensure_future(answer), asyncio.ensure_future(gone())
    try:
        await asyncio.wait({answering, leaving}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the request itself was cancelled
        answering.cancel()
        raise
    finally:
        leaving.cancel()
    if not answering.done():
        answering.cancel()
        raise ClientDisconnect()
    return answering.result()


def create_app(service: ModelService, settings: Settings | None = None) -> ASGIApp:
    """The whole application for a loaded model, behind the Guard."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    app = Starlette(
        routes=_routes(service),
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found, Exception: _crashed},
    )
    return Guard(OneLine(app), settings or Settings())


class OneLine:
    """Pure ASGI middleware: an error the application already answered (Starlette's error
    middleware answers, through `_crashed`, and raises it again for the server to log with a
    traceback) ends here, so the server log holds the one line `_crashed` wrote."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            if scope["type"] != "http":
                raise
            if not started:  # not answered yet: answer it here
                await (await _crashed(Request(scope), error))(scope, receive, send)


def _routes(service: ModelService) -> list[Route]:
    """The page, the public API, the page's own calls and the command line's transport."""

    async def health(_: Request) -> Response:
        return _json(200, service.health)

    def post(path: str, make: Callable[[Any], Callable[[], Answer]]) -> Route:
        transport = path.startswith("/api/wire/")
        return Route(path, endpoint(service, make, transport), methods=["POST"])

    return [
        Route("/", _page_handler(service), methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        post("/api/run", lambda b: service.run(parse.run_request(b), False)),
        post("/api/heads", lambda b: service.heads(parse.heads_request(b), False)),
        post("/api/diff", lambda b: service.diff(parse.diff_request(b), False)),
        post("/api/page", lambda b: page_work(service, parse.run_request(b))),
        post("/api/page/diff", lambda b: page_diff_work(service, parse.diff_request(b))),
        post("/api/wire/run", lambda b: service.run(parse.run_request(b, many=True), True)),
        post("/api/wire/heads", lambda b: service.heads(parse.heads_request(b), True)),
        post("/api/wire/diff", lambda b: service.diff(parse.diff_request(b), True)),
        post("/api/wire/inspect", lambda b: service.inspect(parse.inspect_request(b))),
        post("/api/wire/neurons", lambda b: service.neurons(parse.neurons_request(b, True))),
        post("/api/wire/neuron_layer", lambda b: service.neurons(parse.neurons_request(b))),
    ]


def _page_handler(service: ModelService) -> Callable[[Request], Any]:
    """`GET /`: the live page (made once, on the first visit)."""
    limits = {"max_text_bytes": MAX_TEXT_BYTES, **service.asks}
    made: list[bytes] = []

    async def page(_: Request) -> Response:
        if not made:
            try:
                answer = await service.call(first_page_work(service, limits))
            except Busy as error:
                return _json(503, {"error": str(error)})
            if answer.status != 200:
                return _bytes(answer)
            made.append(answer.body)
        return Response(made[0], media_type="text/html; charset=utf-8",
                        headers={"content-security-policy": _live_csp()})  # fmt: skip

    return page


async def _not_found(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 404)
    message = "no such page" if status == 404 else "method not allowed"
    return _json(status, {"error": f"{message}: {request.method} {request.url.path}"})


async def _crashed(request: Request, error: Exception) -> Response:
    print(f"attninspect serve: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    return _json(500, _crash_record(error))


def _crash_record(error: Exception) -> dict[str, str]:
    return {"error": f"internal error ({type(error).__name__}); see the server log"}


def _live_csp() -> str:
    from attninspect.server.page import LIVE_CSP

    return LIVE_CSP
