"""IMDSv2 session tokens: opaque random strings bound to one instance, valid for TTL seconds.

Memory is bounded: at most `max_per_instance` live tokens per instance (issuing more drops that
instance's oldest), expired tokens are swept at most every `sweep_interval` seconds while tokens
are being issued, and an expired token is dropped when it is presented.

Thread-safe: the metadata service issues and checks tokens on its own thread
(``imds/threaded.py``) while the daemon forgets a departed instance's tokens from its loop.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

MIN_TTL = 1
MAX_TTL = 21600


class TokenStore:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_per_instance: int = 1000,
        sweep_interval: float = 60.0,
    ) -> None:
        self._clock = clock
        self._max_per_instance = max_per_instance
        self._sweep_interval = sweep_interval
        self._last_sweep = clock()
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (instance_id, expires_at)
        # instance_id -> its tokens in issue order (dict used as an ordered set)
        self._by_instance: dict[str, dict[str, None]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tokens)

    def issue(self, instance_id: str, ttl: int) -> str:
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise ValueError(f"ttl must be {MIN_TTL}..{MAX_TTL}")
        with self._lock:
            return self._issue(instance_id, ttl)

    def _issue(self, instance_id: str, ttl: int) -> str:
        now = self._clock()
        if now - self._last_sweep >= self._sweep_interval:
            self._purge_expired()
        if len(self._by_instance.get(instance_id, ())) >= self._max_per_instance:
            self._purge_instance(instance_id, now)
        mine = self._by_instance.setdefault(instance_id, {})
        while len(mine) >= self._max_per_instance:
            oldest = next(iter(mine))
            del mine[oldest]
            self._tokens.pop(oldest, None)
        token = secrets.token_urlsafe(42)  # 56 characters, 336 random bits
        self._tokens[token] = (instance_id, now + ttl)
        mine[token] = None
        return token

    def validate(self, token: str, instance_id: str) -> bool:
        """True when `token` was issued to `instance_id` and has not expired."""
        entry = self._tokens.get(token)
        if entry is None:
            return False
        owner, expires_at = entry
        if self._clock() >= expires_at:
            with self._lock:
                self._drop(token, owner)
            return False
        return secrets.compare_digest(owner, instance_id)

    def forget_instance(self, instance_id: str) -> None:
        """Drop every token of an instance (terminated, or moved elsewhere)."""
        with self._lock:
            for token in self._by_instance.pop(instance_id, {}):
                self._tokens.pop(token, None)

    def purge_expired(self) -> int:
        with self._lock:
            return self._purge_expired()

    def _purge_expired(self) -> int:
        now = self._clock()
        self._last_sweep = now
        expired = [(t, owner) for t, (owner, exp) in self._tokens.items() if now >= exp]
        for token, owner in expired:
            self._drop(token, owner)
        return len(expired)

    def _purge_instance(self, instance_id: str, now: float) -> None:
        mine = self._by_instance.get(instance_id, {})
        for token in [t for t in mine if now >= self._tokens[t][1]]:
            self._drop(token, instance_id)

    def _drop(self, token: str, owner: str) -> None:
        self._tokens.pop(token, None)
        mine = self._by_instance.get(owner)
        if mine is not None:
            mine.pop(token, None)
            if not mine:
                del self._by_instance[owner]
