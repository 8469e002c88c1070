"""Waiting on events in tests: poll a condition until it holds, never sleep a fixed budget.

``until(what, check, timeout)`` returns ``check()``'s first truthy value; the timeout is only the
point where the test gives up (generous: guests boot slowly under TCG and a loaded host), and the
error names what never happened. ``api_only.until`` is the same for coroutines on the fakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(what: str, check: Callable[[], T], timeout: float = 300, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
