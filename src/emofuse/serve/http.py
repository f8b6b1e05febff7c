"""uvicorn's h11 protocol with a deadline on the request head: a connection that has not sent a complete request
line and headers within ``header_timeout_s`` of connecting (or of its previous response) is closed.

uvicorn has no such deadline itself (its keep-alive timer stops at the first byte), so a client sending one
header byte every few seconds could hold a connection open for ever. The body has its own deadline in the app
(:func:`emofuse.serve.app.create_app`'s ``read_timeout_s``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "EMOFUSE_SERVE_HEADER_TIMEOUT_S"
DEFAULT_HEADER_TIMEOUT_S = 10.0


class HeaderDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` closing connections whose request head does not arrive in time.

    The deadline is :attr:`header_timeout_s`, or the environment variable ``EMOFUSE_SERVE_HEADER_TIMEOUT_S``
    (how worker processes receive it).
    """

    header_timeout_s: float | None = None
    timed_out = 0  # connections closed for a slow request head (per process, for /health and tests)

    def _deadline_s(self) -> float:
        if self.header_timeout_s is not None:
            return self.header_timeout_s
        return float(os.environ.get(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_S))

    def _arm(self) -> None:
        self._disarm()
        self._head_cycle = self.cycle
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self._deadline_s(), self._head_too_slow
        )

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if getattr(self, "_head_timer", None) is not None and self.cycle is not self._head_cycle:
            self._disarm()  # a new request's head is complete

    def on_response_complete(self) -> None:
        finished = self.cycle
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is finished:
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is not self._head_cycle:  # a request head arrived meanwhile
            return
        if not self.transport.is_closing():
            type(self).timed_out += 1
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
                b"content-length: 40\r\n\r\nthe request head did not arrive in time\n"
            )
            self.transport.close()
