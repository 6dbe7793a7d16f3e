"""One TLS receive buffer per thread instead of one per connection, so a hub can hold thousands of tunnels.

asyncio's TLS protocol (Python 3.11 and later) gives every connection its own 256 KiB receive buffer,
zero-filled and therefore resident from the start. The hub keeps one TLS connection per agent tunnel (plus
its pools towards the parent and the children), almost all idle, so this buffer alone cost 256 KiB per
tunnel: ten times the whole budget. The buffer is only ever used between ``get_buffer`` and
``buffer_updated``, which the event loop calls back to back with nothing in between but ``recv_into``, and
``buffer_updated`` copies the bytes into the TLS engine at once; one buffer per thread is therefore enough
for every connection that thread's loop serves.

``install()`` swaps asyncio's class for a subclass that does this, process-wide (the loop creates its TLS
protocols itself, so there is no per-server hook). On Pythons whose TLS protocol is built differently (3.10
has no such buffer) it does nothing.
"""

from __future__ import annotations

import asyncio
import threading
from asyncio import sslproto
from typing import Any

__all__ = ["LeanSSLProtocol", "install", "installed"]

_ORIGINAL: type[Any] = sslproto.SSLProtocol
_buffers = threading.local()


def _shared_view(size: int) -> memoryview:
    """This thread's receive buffer, made on first use."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None or len(view) < size:
        view = memoryview(bytearray(size))
        _buffers.view = view
    return view


def _supported() -> bool:
    return issubclass(_ORIGINAL, asyncio.BufferedProtocol) and "get_buffer" in vars(_ORIGINAL)


class LeanSSLProtocol(_ORIGINAL):  # type: ignore[misc]
    """asyncio's SSLProtocol, receiving into the thread's shared buffer instead of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Drop the 256 KiB the base class just made; buffer_updated reads _ssl_buffer_view.
        self._ssl_buffer_view = _shared_view(self.max_size)
        self._ssl_buffer = self._ssl_buffer_view.obj

    def get_buffer(self, n: int) -> memoryview:
        view = _shared_view(self.max_size)
        self._ssl_buffer_view = view
        self._ssl_buffer = view.obj
        return view


def installed() -> bool:
    return sslproto.SSLProtocol is LeanSSLProtocol


def install() -> bool:
    """Make every TLS connection asyncio creates from now on use the shared buffer; True if it does."""
    if not _supported():
        return False
    sslproto.SSLProtocol = LeanSSLProtocol  # type: ignore[misc]
    return True
