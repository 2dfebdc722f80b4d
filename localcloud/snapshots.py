"""Named snapshots of the whole local cloud: moto's backends and the additions' state, saved and restored in-process.

A test that needs environments provisioned restores a snapshot taken after one provisioning instead of provisioning
again (about a second instead of minutes). Every object is deep-copied on save and on restore, so a snapshot stays as
it was saved however often it is restored. AWS has no such thing; it is a test fixture, reached only through the
control API (/_localcloud/snapshots/...).
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from typing import Any

from moto.core.base_backend import BackendDict, backend_lock
from moto.ssm.models import ParameterDict


def _fresh_lock(lock: Any, memo: dict[int, Any]) -> Any:
    """moto's models hold locks (S3 keys, for one); a copied model gets a lock of its own, unlocked."""
    return type(lock)()


def _copy_defaultdict(value: defaultdict, memo: dict[int, Any]) -> defaultdict:
    """A defaultdict subclass whose constructor takes other arguments (SSM's ParameterDict), copied field by field."""
    copied = type(value).__new__(type(value))
    memo[id(value)] = copied
    copied.default_factory = value.default_factory
    copied.__dict__.update(copy.deepcopy(value.__dict__, memo))
    for key, item in value.items():
        copied[copy.deepcopy(key, memo)] = copy.deepcopy(item, memo)
    return copied


_DISPATCH = copy._deepcopy_dispatch  # type: ignore[attr-defined]
for _type, _copier in (
    (type(threading.Lock()), _fresh_lock),
    (type(threading.RLock()), _fresh_lock),
    (ParameterDict, _copy_defaultdict),
):
    _DISPATCH.setdefault(_type, _copier)


class Snapshots:
    def __init__(self, extra_state: Any) -> None:
        # The additions' own state (the ECS emulator's targets); copied with moto's, so shared objects stay shared.
        self._extra_state = extra_state
        self._saved: dict[str, tuple[list[tuple[BackendDict, dict[str, Any]]], Any]] = {}

    def names(self) -> list[str]:
        return sorted(self._saved)

    @staticmethod
    def _copy(state: Any, backend_dicts: list[BackendDict]) -> Any:
        """A deep copy that keeps moto's global BackendDict objects themselves (their contents are copied)."""
        return copy.deepcopy(state, {id(backends): backends for backends in backend_dicts})

    def save(self, name: str) -> None:
        with backend_lock:
            instances = list(BackendDict._instances)
            live = [(backends, dict(backends)) for backends in instances]
            self._saved[name] = self._copy((live, self._extra_state.snapshot_state()), instances)

    def restore(self, name: str) -> None:
        if name not in self._saved:
            raise KeyError(name)
        saved_live, _ = self._saved[name]
        live, extra = self._copy(self._saved[name], [backends for backends, _ in saved_live])
        with backend_lock:
            for backends in BackendDict._instances:
                backends.clear()
            BackendDict._instances.clear()
            for backends, accounts in live:
                backends.update(accounts)
                BackendDict._instances.append(backends)
        self._extra_state.restore_state(extra)

    def delete(self, name: str) -> None:
        self._saved.pop(name, None)
