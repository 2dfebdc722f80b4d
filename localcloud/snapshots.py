"""Named snapshots of the whole local cloud: moto's backends and the additions' state, saved and restored in-process.

A test that needs environments provisioned restores a snapshot taken after one provisioning instead of provisioning
again (about a second instead of minutes). Every object is deep-copied on save and on restore, so a snapshot stays as
it was saved however often it is restored. AWS has no such thing; it is a test fixture, reached only through the
control API (/_localcloud/snapshots/...).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from moto.core.base_backend import BackendDict, backend_lock
from moto.core.model_instances import model_data
from moto.ssm.models import ParameterDict


def _copy_defaultdict(value: defaultdict, memo: dict[int, Any]) -> defaultdict:
    """A defaultdict subclass whose constructor takes other arguments (SSM's ParameterDict), copied field by field."""
    copied = type(value).__new__(type(value))
    memo[id(value)] = copied
    copied.default_factory = value.default_factory
    copied.__dict__.update(copy.deepcopy(value.__dict__, memo))
    for key, item in value.items():
        copied[copy.deepcopy(key, memo)] = copy.deepcopy(item, memo)
    return copied


# What plain deep copies refuse in moto's models: locks (ECR's registry, S3's keys) and SSM's ParameterDict.
_COPIERS = {
    type(threading.Lock()): lambda lock, memo: threading.Lock(),
    type(threading.RLock()): lambda lock, memo: threading.RLock(),
    ParameterDict: _copy_defaultdict,
}


@contextlib.contextmanager
def _copiers() -> Iterator[None]:
    dispatch = copy._deepcopy_dispatch  # type: ignore[attr-defined]
    added = [kind for kind in _COPIERS if kind not in dispatch]
    dispatch.update({kind: _COPIERS[kind] for kind in added})
    try:
        yield
    finally:
        for kind in added:
            dispatch.pop(kind, None)


def _untrack(copies: set[int]) -> None:
    """moto tracks every model instance it creates (S3 disposes the tracked keys' buffers on reset); a snapshot's
    copies are not live models, so they must not be tracked."""
    for models in model_data.values():
        for model in models.values():
            tracked = getattr(model, "instances_tracked", None)
            if tracked:
                model.instances_tracked = [i for i in tracked if id(i) not in copies]


class Snapshots:
    def __init__(self, extra_state: Any) -> None:
        # The additions' own state (the ECS emulator's targets); copied with moto's, so shared objects stay shared.
        self._extra_state = extra_state
        self._saved: dict[str, tuple[list[tuple[BackendDict, dict[str, Any], dict[str, Any]]], Any]] = {}

    @staticmethod
    def _copy(state: Any, backend_dicts: list[BackendDict]) -> tuple[Any, set[int]]:
        """A deep copy that keeps moto's global BackendDict objects themselves (their contents are copied), and the
        ids of the objects it made."""
        memo: dict[int, Any] = {id(backends): backends for backends in backend_dicts}
        pinned = set(memo)
        with _copiers():
            copied = copy.deepcopy(state, memo)
        return copied, {id(v) for k, v in memo.items() if k not in pinned}

    def names(self) -> list[str]:
        return sorted(self._saved)

    def save(self, name: str) -> None:
        with backend_lock:
            instances = list(BackendDict._instances)
            # A BackendDict's attributes are state too (S3's bucket_accounts: which account owns a bucket name).
            live = [(backends, dict(backends), dict(vars(backends))) for backends in instances]
            self._saved[name], copies = self._copy((live, self._extra_state.snapshot_state()), instances)
        _untrack(copies)

    def restore(self, name: str) -> None:
        if name not in self._saved:
            raise KeyError(name)
        saved_live = self._saved[name][0]
        live, extra = self._copy(self._saved[name], [entry[0] for entry in saved_live])[0]
        with backend_lock:
            for backends in BackendDict._instances:
                backends.clear()
            BackendDict._instances.clear()
            for backends, accounts, attributes in live:
                backends.update(accounts)
                vars(backends).update(attributes)
                BackendDict._instances.append(backends)
        self._extra_state.restore_state(extra)

    def delete(self, name: str) -> None:
        self._saved.pop(name, None)
