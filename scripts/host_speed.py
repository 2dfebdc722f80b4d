"""How fast this host runs Python right now: a fixed pure-Python workload (loops, JSON, objects), timed.

    .venv/bin/python scripts/host_speed.py

The test suite is bound by CPU on two cores, and a shared host's speed can vary by half from one hour to the next:
`make test` prints this figure when it starts and when it ends, so that its time can be read against the host's
speed at that hour (docs/performance.md). A benchmark, not a test.
"""

from __future__ import annotations

import json
import time


class _Thing:
    def __init__(self, value: int) -> None:
        self.value = value

    def next(self) -> int:
        return self.value + 1


def benchmark() -> float:
    """Seconds for the workload (about 1 s on this project's build machine on a quiet hour)."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    rows = [{"a": i, "b": str(i), "c": [i] * 5} for i in range(200_000)]
    json.loads(json.dumps(rows))
    sum(_Thing(i).next() for i in range(1_000_000))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"host speed: {benchmark():.2f} s for the benchmark (scripts/host_speed.py; lower is faster)")
