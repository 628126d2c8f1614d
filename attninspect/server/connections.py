"""uvicorn's HTTP/1.1 protocol (h11) with the deadlines a server open to any local program needs.

uvicorn bounds the wait between two requests of a connection (keep-alive) but not the wait for a
request's headers, nor the wait for a client that stops reading its answer: an idle or half-sent
connection, or an unread answer, would be held forever, before the token is even checked. Here a
request's headers must arrive within `Limits.header_seconds` of the connection (or of the last
answer), a client must take some of its answer within `Limits.send_seconds` whenever the
connection's buffers are full, and connections beyond `Limits.connections` are closed at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class Limits:
    """How long a connection may keep the server waiting, and how many it may hold."""

    header_seconds: float = 10.0  # the same as a request body's (app.BODY_SECONDS)
    send_seconds: float = 30.0
    connections: int = 512


class Deadlines(H11Protocol):
    """uvicorn's h11 protocol held to `limits` (a subclass per server sets them)."""

    limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers_due: asyncio.TimerHandle | None = None
        self.reading_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.connections:
            transport.abort()  # too many already: no answer, no waiting
            return
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("headers_due")
        self._cancel("reading_due")
        super().connection_lost(exc)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's headers are in: the body has its own
            self._cancel("headers_due")

    def on_response_complete(self) -> None:
        self._await_headers()  # the next request's headers (keep-alive may close it first)
        super().on_response_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.reading_due is None:
            self.reading_due = self.loop.call_later(self.limits.send_seconds, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel("reading_due")

    def _await_headers(self) -> None:
        self._cancel("headers_due")
        self.headers_due = self.loop.call_later(self.limits.header_seconds, self._headers_late)

    def _headers_late(self) -> None:
        self.headers_due = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def _not_reading(self) -> None:
        self.reading_due = None
        self.transport.abort()  # the answer is dropped; its request's task ends

    def _cancel(self, name: str) -> None:
        handle = getattr(self, name)
        if handle is not None:
            handle.cancel()
            setattr(self, name, None)


def protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol class, held to ``limits``."""
    return type("Deadlines", (Deadlines,), {"limits": limits})
