# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DocumentDB modules' one wait: poll until done or the timeout passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def poll_until(check: Callable[[], tuple[Any, bool]], timeout: float) -> tuple[Any, bool]:
    """Calls check() -> (what it found, done) until done or `timeout` seconds have passed; its last answer. Polls after
    0.5, 1, 2 and 4 seconds, then every 5: cheap on the local cloud, few calls on AWS."""
    deadline, polls = time.monotonic() + timeout, 0
    while True:
        found, done = check()
        if done or time.monotonic() > deadline:
            return found, done
        time.sleep(min(5, 0.5 * 2**polls))
        polls += 1
