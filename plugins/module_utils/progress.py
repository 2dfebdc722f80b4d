# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress lines a waiting module writes while its task runs, for the stageflow.aws.progress callback to show.

A module runs in its own process until it returns, so Ansible prints nothing of a 15-minute ECS wait or a 5-minute
bake until it ends. The callback (enabled in the collection's ansible.cfg) names a file in STAGEFLOW_PROGRESS_FILE
before the first task; the waiting modules (ecs_promote, alb_traffic) append a JSON line to it at most every
STAGEFLOW_PROGRESS_SECONDS (10 by default), and the callback prints each line as it arrives, between the task's
banner and its result - on the command line and in AWX's job output alike. Without the variable (another callback,
a module run on its own) nothing is written. Progress is a courtesy: a file that cannot be written never fails a
module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

FILE_VARIABLE = "STAGEFLOW_PROGRESS_FILE"
SECONDS_VARIABLE = "STAGEFLOW_PROGRESS_SECONDS"
DEFAULT_SECONDS = 10.0


class Progress:
    """Writes at most one line every `every` seconds (forced lines always), to the file the callback named."""

    def __init__(
        self,
        what: str,
        path: str | None = None,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.what = what
        self.path = os.environ.get(FILE_VARIABLE, "") if path is None else path
        if every is None:
            try:
                every = float(os.environ.get(SECONDS_VARIABLE, DEFAULT_SECONDS))
            except ValueError:
                every = DEFAULT_SECONDS
        self.every = max(0.0, every)
        self._clock, self._wall = clock, wall
        self._last = float("-inf")
        self.written = 0

    def __call__(self, message: str, force: bool = False) -> bool:
        """Write the line when it is due (or forced); True when written."""
        if not self.path:
            return False
        now = self._clock()
        if not force and now - self._last < self.every:
            return False
        line = json.dumps({"at": round(self._wall(), 3), "what": self.what, "message": message}) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write(line)
        except OSError:
            return False
        self._last = now
        self.written += 1
        return True


def seconds_left(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s left" if seconds >= 60 else f"{seconds}s left"
