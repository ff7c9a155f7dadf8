"""Login rate limiting: too many failures for one user name from one address lock it out a while."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

ANY_NAME = "\0any"  # the key that counts an address's failures over every user name
PER_ADDRESS = 10  # an address may fail this many times `max_failures` over all names (password spraying)


class LoginLimiter:
    """At most `max_failures` failed logins per (user name, client address) in `window_s` seconds,
    and `PER_ADDRESS` times as many per address over all user names."""

    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds until another try is allowed; 0 when it is allowed now."""
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(self._recent(key, now), most, now)
                for key, most in (
                    ((username.lower(), ip), self.max_failures),
                    ((ANY_NAME, ip), self.max_failures * PER_ADDRESS),
                )
            ]
        return max(waits)

    def _wait(self, times: deque[float], most: int, now: float) -> int:
        if len(times) < most:
            return 0
        return max(1, int(times[-most] + self.window_s - now + 0.999))

    def failed(self, username: str, ip: str) -> None:
        """Count a failed login."""
        now = self._clock()
        with self._lock:
            self._recent((username.lower(), ip), now).append(now)
            self._recent((ANY_NAME, ip), now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of user names
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, username: str, ip: str) -> None:
        """Forget the failures of a user name from an address after a good login."""
        with self._lock:
            self._failures.pop((username.lower(), ip), None)
