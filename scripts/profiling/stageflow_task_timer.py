"""Callback for scripts/profile.py: one JSON line per task run (name, action, role, start, end, hosts, items).

Enabled only by the profiler (ANSIBLE_CALLBACK_PLUGINS=scripts/profiling, ANSIBLE_CALLBACKS_ENABLED=
stageflow_task_timer); it writes to the file named by STAGEFLOW_TASK_TIMES and changes nothing else.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: stageflow_task_timer
type: aggregate
short_description: per-task wall times for scripts/profile.py
description: Writes one JSON line per task to the file named by STAGEFLOW_TASK_TIMES.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stageflow_task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get("STAGEFLOW_TASK_TIMES", "")
        self._current: dict | None = None

    def _close(self) -> None:
        if self._current and self._path:
            self._current["end"] = time.time()
            with open(self._path, "a", encoding="utf-8") as out:
                out.write(json.dumps(self._current) + "\n")
        self._current = None

    def _open(self, task, handler: bool = False) -> None:
        self._close()
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        self._current = {
            "name": task.get_name(),
            "action": task.action,
            "role": role,
            "handler": handler,
            "start": time.time(),
            "hosts": {},
            "items": 0,
        }

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open(task, handler=True)

    def _status(self, result, status: str) -> None:
        if self._current is not None:
            self._current["hosts"][result._host.get_name()] = status

    def v2_runner_on_ok(self, result):
        self._status(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._status(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._status(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._status(result, "unreachable")

    def v2_runner_item_on_ok(self, result):
        if self._current is not None:
            self._current["items"] += 1

    v2_runner_item_on_failed = v2_runner_item_on_ok

    def v2_playbook_on_play_start(self, play):
        self._close()

    def v2_playbook_on_stats(self, stats):
        self._close()
