"""Named snapshots of the whole local cloud: moto's backends and the additions' state, saved and restored in-process,
and exported to a file another local cloud imports.

A test that needs environments provisioned restores a snapshot taken after one provisioning instead of provisioning
again (about a second instead of minutes). Every object is deep-copied on save and on restore, so a snapshot stays as
it was saved however often it is restored. An exported snapshot (a pickle in the folder the local cloud was started
with, --snapshot-dir) lets the test processes of one `make test` share a provisioning: one exports what it built, the
others import it. AWS has no such thing; it is a test fixture, reached only through the control API
(/_localcloud/snapshots/...). A pickle runs code when it is loaded: import only files a local cloud of this checkout
exported.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import pickle
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from moto.core.base_backend import BackendDict, backend_lock
from moto.core.common_models import BaseModel
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


def _dict_of_dicts() -> defaultdict:
    return defaultdict(dict)


# moto's state holding functions defined inside a function, which pickle cannot name: what stands in for each in an
# export (the same behaviour, defined at module level). An unknown one makes the export fail and name it.
_LOCAL_FACTORIES = {
    "SimpleSystemManagerBackend.__init__.<locals>.<lambda>": _dict_of_dicts,  # its _resource_tags
}


def _backend_dicts_by_id() -> dict[int, tuple[str, str]]:
    """Each of moto's BackendDict objects -> the (module, attribute) that holds it: how an export names them, so that
    an import puts the state into the importing process's own."""
    found: dict[int, tuple[str, str]] = {}
    for module_name in sorted(sys.modules):
        module = sys.modules[module_name]
        if not module_name.startswith("moto.") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, BackendDict):
                found.setdefault(id(value), (module_name, attribute))
    return found


# cryptography's objects (ACM's keys and certificates) by their PEM or DER: its loaders are built-ins pickle cannot name
def _private_key(pem: bytes) -> Any:
    return load_pem_private_key(pem, None)


def _public_key(pem: bytes) -> Any:
    return load_pem_public_key(pem)


def _certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _bare_defaultdict(kind: type, factory: Any) -> defaultdict:
    made = kind.__new__(kind)
    made.default_factory = factory
    return made


class _Exporter(pickle.Pickler):
    def __init__(self, file: Any, names: dict[int, tuple[str, str]]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = names

    def persistent_id(self, obj: Any) -> tuple[str, str] | None:
        if isinstance(obj, BackendDict):
            if id(obj) not in self._names:
                raise pickle.PicklingError(f"a BackendDict of {obj.service_name} that no moto module holds")
            return self._names[id(obj)]
        return None

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is _LOCK:
            return (threading.Lock, ())
        if kind is _RLOCK:
            return (threading.RLock, ())
        if isinstance(obj, _PRIVATE_KEYS):
            pem = obj.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            return (_private_key, (pem,))
        if isinstance(obj, _PUBLIC_KEYS):
            return (_public_key, (obj.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),))
        if isinstance(obj, x509.Certificate):
            return (_certificate, (obj.public_bytes(Encoding.DER),))
        if isinstance(obj, defaultdict):
            # A local default factory, or a subclass whose constructor takes other arguments (SSM's ParameterDict).
            factory = obj.default_factory
            if "<locals>" in getattr(factory, "__qualname__", ""):
                factory = _LOCAL_FACTORIES.get(factory.__qualname__)
                if factory is None:
                    raise pickle.PicklingError(
                        f"moto state holds the local function {obj.default_factory.__qualname__}"
                    )
            if factory is not obj.default_factory or kind is not defaultdict:
                return (
                    _bare_defaultdict,
                    (kind, factory),
                    dict(getattr(obj, "__dict__", {})) or None,
                    None,
                    iter(obj.items()),
                )
        return NotImplemented


class _Importer(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> BackendDict:
        module_name, attribute = pid
        return getattr(importlib.import_module(module_name), attribute)


_LOCK, _RLOCK = type(threading.Lock()), type(threading.RLock())
_PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_PUBLIC_KEYS = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)


def _models() -> list[type]:
    """Every moto model class (each tracks its instances in a list of its own)."""
    found, todo = [], list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        if model not in found:
            found.append(model)
            todo += model.__subclasses__()
    return [model for model in found if "instances_tracked" in vars(model)]


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

    def export(self, name: str, path: str) -> int:
        """Write the saved snapshot `name` to `path` (whole or not at all: a reader never sees half of it); its size."""
        if name not in self._saved:
            raise KeyError(name)
        with backend_lock:
            names = _backend_dicts_by_id()
        folder = os.path.dirname(path) or "."
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".export-", delete=False) as handle:
            try:
                _Exporter(handle, names).dump(self._saved[name])
            except BaseException:
                os.unlink(handle.name)
                raise
        os.replace(handle.name, path)
        return os.path.getsize(path)

    def import_(self, name: str, path: str) -> None:
        """Read a snapshot another local cloud exported to `path`, and keep it as `name` (restore() then applies it)."""
        # Unpickling makes model instances through their __new__, which tracks them: untrack what it made.
        counts = {model: len(model.instances_tracked) for model in _models()}
        with open(path, "rb") as handle:
            saved = _Importer(handle).load()
        for model in _models():
            del model.instances_tracked[counts.get(model, 0) :]
        self._saved[name] = saved
