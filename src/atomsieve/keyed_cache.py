"""The one in-memory cache: a thread-safe LRU on explicit keys that computes each key once.

Process-wide caches (features, selection outcomes and model-error rows of the dashboard, prepared
model input of :func:`atomsieve.potentials.featurize.prepare`) are instances of
:class:`KeyedCache`; keys are tuples of explicit parts (dataset content hash,
:func:`atomsieve.digest.params_digest`, thresholds...), never arrays. The on-disk counterpart is
:class:`atomsieve.disk_cache.NpzFolder` (feature files and prepared model input).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any


class KeyedCache:
    """A thread-safe LRU bounded by entries and/or bytes; :meth:`get_or_compute` computes a key once.

    Parameters
    ----------
    max_entries : int or None
        Entries kept at most (None: no bound on the count).
    max_bytes : int or None
        Bytes kept at most, as counted by ``size(value)``; the newest entry always stays.
    size : callable or None
        Bytes of one value (needed with ``max_bytes``).
    share_errors : bool
        When the caller computing a key fails, callers waiting for the same key get its error
        (True) or try the computation again themselves (False: right where one caller's failure,
        such as its own cancellation, says nothing about the others').

    Examples
    --------
    >>> cache = KeyedCache(max_entries=2)
    >>> calls = []
    >>> make = lambda: calls.append(1) or "value"
    >>> cache.get_or_compute(("k",), make), cache.get_or_compute(("k",), make), len(calls)
    ('value', 'value', 1)
    >>> cache.put(("a",), 1); cache.put(("b",), 2); cache.get(("k",)) is None, len(cache)
    (True, 2)
    """

    def __init__(self, max_entries: int | None = None, max_bytes: int | None = None,
                 size: Callable[[Any], int] | None = None, share_errors: bool = True):
        if max_bytes is not None and size is None:
            raise ValueError("max_bytes needs size(value)")
        self.max_entries = None if max_entries is None else int(max_entries)
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        self.size = size
        self.share_errors = share_errors
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._inflight: dict[Hashable, Future] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held, as counted by ``size`` (0 without it)."""
        return self._bytes

    def _nbytes(self, value) -> int:
        return 0 if self.size is None else int(self.size(value))

    def get(self, key: Hashable) -> Any | None:
        """The value of ``key`` (now the most recently used), or None."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: Hashable, value) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used entries past the bounds."""
        with self._lock:
            if key in self._entries:
                self._bytes -= self._nbytes(self._entries.pop(key))
            self._entries[key] = value
            self._bytes += self._nbytes(value)
            while len(self._entries) > 1 and (
                    (self.max_entries is not None and len(self._entries) > self.max_entries)
                    or (self.max_bytes is not None and self._bytes > self.max_bytes)):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= self._nbytes(dropped)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]):
        """The cached value of ``key``, else ``compute()``'s, computed once however many ask at once."""
        while True:
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None:
                    self._entries.move_to_end(key)
                    return hit
                future = self._inflight.get(key)
                owner = future is None
                if owner:
                    future = self._inflight[key] = Future()
            if owner:
                break
            if self.share_errors or future.exception() is None:
                return future.result()  # re-raises the computing caller's error
        try:
            value = compute()
            self.put(key, value)
        except BaseException as exc:
            self._done(key)
            future.set_exception(exc)
            raise
        self._done(key)
        future.set_result(value)
        return value

    def _done(self, key: Hashable) -> None:
        with self._lock:  # before the waiters wake, so a retrying one finds no computation in flight
            self._inflight.pop(key, None)

    def clear(self) -> None:
        """Drop every entry (computations in flight still finish and are kept)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
