# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: progress
type: aggregate
short_description: Shows what a waiting Stageflow module is doing while its task runs
version_added: 0.2.0
description:
  - Ansible prints nothing of a task until it ends, so a release's ECS wait (up to C(release_wait_timeout)) and each
    traffic step's bake look the same whether the rollout is slow or hung. M(stageflow.aws.ecs_promote) and
    M(stageflow.aws.alb_traffic) write a progress line while they wait - tasks running and desired, targets healthy,
    the weights, the gate's alarms and target health, the time left - and this callback prints each one as it arrives,
    between the task's banner and its result, prefixed with C(progress).
  - It keeps Ansible's normal output (any stdout callback - C(default), C(yaml), AWX's own) and works under
    ansible-runner, where the lines are part of the job's output.
  - Before the first task it names a new file in the environment variable C(STAGEFLOW_PROGRESS_FILE), which the
    modules (run by the C(local) connection) inherit, and removes it at the end (a run killed with SIGKILL leaves a
    small C(stageflow-progress-*.jsonl) in the temporary directory). Each run has its own file, a playbook started by
    another one included.
  - The modules write at most one line every C(STAGEFLOW_PROGRESS_SECONDS) seconds (10 by default).
  - The collection's C(ansible.cfg) enables it (C(callbacks_enabled)).
requirements:
  - Enabled in C(callbacks_enabled).
author:
  - Stageflow engineers (@stageflow)
"""

import contextlib
import json
import os
import tempfile
import threading
import time

from ansible.plugins.callback import CallbackBase
from ansible_collections.stageflow.aws.plugins.module_utils.progress import FILE_VARIABLE

POLL_SECONDS = 0.5


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stageflow.aws.progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = None
        self._own = False
        self._offset = 0
        self._stop = threading.Event()
        self._thread = None

    def v2_playbook_on_start(self, playbook):
        if self._thread is not None:
            return
        handle, self._path = tempfile.mkstemp(prefix="stageflow-progress-", suffix=".jsonl")
        os.close(handle)
        os.environ[FILE_VARIABLE] = self._path
        self._own = True
        self._thread = threading.Thread(target=self._follow, name="stageflow-progress", daemon=True)
        self._thread.start()

    def _follow(self):
        while not self._stop.wait(POLL_SECONDS):
            self._drain()

    def _drain(self):
        try:
            with open(self._path, encoding="utf-8") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written waits for the next look
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            try:
                entry = json.loads(line)
                stamp = time.strftime("%H:%M:%S", time.localtime(float(entry.get("at", time.time()))))
                self._display.display(f"  progress {stamp} {entry.get('what', '')}: {entry.get('message', '')}")
            except (ValueError, TypeError, AttributeError):
                self._display.display(f"  progress: {line}")

    def v2_playbook_on_stats(self, stats):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            if not self._thread.is_alive():  # the last lines, read by one reader only
                self._drain()
        if self._own and self._path:
            with contextlib.suppress(OSError):
                os.remove(self._path)
            os.environ.pop(FILE_VARIABLE, None)
