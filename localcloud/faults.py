"""Fault settings of the local cloud, switchable at run time.

Each fault follows a documented AWS behaviour (see docs/localcloud.md): an unhealthy
release fails its load-balancer health checks, a hung rollout never reaches a steady
state, and throttled calls are answered the way each AWS protocol answers them.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_NAMES = ("unhealthy", "hang", "throttle")


class FaultError(ValueError):
    """A control request that names an unknown fault or carries a bad value."""


def _patterns(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p for p in value):
        raise FaultError(f"'{name}' needs 'patterns': a non-empty list of image patterns, e.g. [\"*:v3\"]")
    return value


THROTTLE_SETTINGS = ("share", "seed", "limit", "services", "max_consecutive", "streak")


@dataclass
class Throttle:
    """`share` of calls start a run of `streak` throttled answers to the same service; no service ever gets more than
    `max_consecutive` in a row, so a client that retries long enough always gets through."""

    share: float = 0.0
    seed: int = 0
    limit: int | None = None
    services: list[str] = field(default_factory=list)
    max_consecutive: int = 2
    streak: int = 1
    throttled: int = 0
    seen: int = 0
    longest_streak: int = 0
    _consecutive: dict[str, int] = field(default_factory=dict)  # throttled answers in a row, per service
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "seed": self.seed,
            "limit": self.limit,
            "services": self.services,
            "max_consecutive": self.max_consecutive,
            "streak": self.streak,
            "throttled": self.throttled,
            "seen": self.seen,
            "longest_streak": self.longest_streak,
        }


class Faults:
    """Thread-safe registry of active faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.unhealthy: list[str] = []
            self.hang: list[str] = []
            self.throttle = Throttle()

    # -- configuration -------------------------------------------------------------------
    def set(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if name not in FAULT_NAMES:
            raise FaultError(f"unknown fault '{name}'; known faults: {', '.join(FAULT_NAMES)}")
        if not isinstance(body, dict):
            raise FaultError(f"the body for fault '{name}' must be a JSON object")
        with self._lock:
            if name in ("unhealthy", "hang"):
                setattr(self, name, _patterns(body.get("patterns"), name))
            else:
                self.throttle = self._parse_throttle(body)
        return self.as_dict()

    def clear(self, name: str) -> dict[str, Any]:
        if name not in FAULT_NAMES:
            raise FaultError(f"unknown fault '{name}'; known faults: {', '.join(FAULT_NAMES)}")
        with self._lock:
            if name == "throttle":
                self.throttle = Throttle()
            else:
                setattr(self, name, [])
        return self.as_dict()

    @staticmethod
    def _parse_throttle(body: dict[str, Any]) -> Throttle:
        unknown = set(body) - set(THROTTLE_SETTINGS)
        if unknown:
            raise FaultError(f"unknown throttle setting(s) {sorted(unknown)}; allowed: {', '.join(THROTTLE_SETTINGS)}")
        share = body.get("share")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise FaultError(f"throttle 'share' must be a number from 0 to 1, got {share!r}")
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise FaultError(f"throttle 'seed' must be an integer, got {seed!r}")
        limit = body.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise FaultError(f"throttle 'limit' must be a whole number >= 0 or null, got {limit!r}")
        services = body.get("services", [])
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            raise FaultError(f"throttle 'services' must be a list of service names like 'ecs', got {services!r}")
        streak = body.get("streak", 1)
        if isinstance(streak, bool) or not isinstance(streak, int) or streak < 1:
            raise FaultError(
                f"throttle 'streak' must be an integer >= 1 (throttled answers in a row to one service), got {streak!r}"
            )
        max_consecutive = body.get("max_consecutive", max(2, streak))
        if isinstance(max_consecutive, bool) or not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise FaultError(f"throttle 'max_consecutive' must be an integer >= 1, got {max_consecutive!r}")
        if max_consecutive < streak:
            raise FaultError(
                f"throttle 'max_consecutive' ({max_consecutive}) must be at least 'streak' ({streak}): a streak is "
                "that many throttled answers in a row"
            )
        return Throttle(
            share=float(share),
            seed=seed,
            limit=limit,
            services=services,
            max_consecutive=max_consecutive,
            streak=streak,
            _rng=random.Random(seed),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"unhealthy": list(self.unhealthy), "hang": list(self.hang), "throttle": self.throttle.as_dict()}

    # -- queries ---------------------------------------------------------------------------
    @staticmethod
    def _matches(patterns: list[str], images: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(image, pattern) for pattern in patterns for image in images)

    def release_unhealthy(self, images: list[str]) -> bool:
        return self._matches(self.unhealthy, images)

    def release_hangs(self, images: list[str]) -> bool:
        return self._matches(self.hang, images)

    def should_throttle(self, service: str) -> bool:
        """Decide for one AWS call; deterministic for a given seed and call order.

        A streak under way is finished first: the service's next calls are throttled until it has had `streak` in a
        row. Otherwise `share` decides, unless the service already had `max_consecutive` in a row."""
        with self._lock:
            t = self.throttle
            if t.share <= 0 or (t.services and service not in t.services):
                return False
            t.seen += 1
            if t.limit is not None and t.throttled >= t.limit:
                return False
            in_a_row = t._consecutive.get(service, 0)
            streak_under_way = 0 < in_a_row < t.streak
            hit = streak_under_way or (t._rng.random() < t.share and in_a_row < t.max_consecutive)
            t._consecutive[service] = in_a_row + 1 if hit else 0
            if hit:
                t.throttled += 1
                t.longest_streak = max(t.longest_streak, t._consecutive[service])
            return hit
