"""A cache of botocore's parsed service models, installed into the project's virtual environment.

Every Ansible module runs as a fresh Python process that builds its boto3 client, and botocore reads the service's
model (a gzipped JSON file: EC2's is 4 MiB) and its endpoints again each time, parsing them into OrderedDicts: about
0.15 s of an EC2 module call's 0.4 s. This cache keeps what botocore parsed, pickled, by the file's path, size and
modification time, so a module call loads it in about a quarter of the time and gets exactly what parsing would give
(the same OrderedDicts). Anything that goes wrong falls back to parsing. It is part of the development environment
only (`make venv` installs it; the collection never ships it), like scripts/zip_bytecode_cache.py, where it makes the
playbooks, the demo, the local cloud and the tests cost less CPU (docs/performance.md). `STAGEFLOW_BOTOCORE_CACHE=0`
turns it off. `python scripts/botocore_model_cache.py --install` puts it into this interpreter's site-packages with a
.pth file that wraps botocore.loaders when something imports it (nothing is imported at start-up).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.abc
import os
import pickle
import sys

NAME = "stageflow_botocore_model_cache"
CACHE = os.path.join(sys.prefix, "botocore-model-cache")  # inside the virtual environment, which `make clean` removes
TARGET = "botocore.loaders"


def cached_load(parse, full_path: str, open_method):
    """botocore's JSONFileLoader._load_file(full_path, open_method) through the cache (`parse` is the original)."""
    try:
        stat = os.stat(full_path)
    except OSError:
        return parse(full_path, open_method)  # no such file: botocore's own answer (None)
    key = hashlib.sha256(f"{full_path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()
    path = os.path.join(CACHE, key[:2], key)
    partial = f"{path}.{os.getpid()}"
    try:
        try:
            with open(path, "rb") as cached:
                return pickle.load(cached)
        except FileNotFoundError:
            pass
        data = parse(full_path, open_method)
        if data is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(partial, "wb") as out:
                pickle.dump(data, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, path)  # whole or not at all, when processes write the same entry at once
        return data
    except Exception:  # a cache must never be the reason a client fails: parse, and drop what is damaged
        for leftover in (path, partial):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        return parse(full_path, open_method)


def wrap(loaders) -> None:
    """Route botocore.loaders.JSONFileLoader._load_file through the cache (once)."""
    loader_class = loaders.JSONFileLoader
    original = loader_class._load_file
    if getattr(original, "_stageflow_cached", False):
        return

    def _load_file(self, full_path, open_method):
        return cached_load(lambda p, m: original(self, p, m), full_path, open_method)

    _load_file._stageflow_cached = True
    loader_class._load_file = _load_file


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when botocore.loaders is imported, wraps its loader so that the module is patched once
    it has run."""

    stageflow_finder = True  # another copy of this finder (another module's) is passed over too

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "stageflow_finder", False):
                continue
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                exec_module = spec.loader.exec_module

                def patched_exec(module, exec_module=exec_module):
                    exec_module(module)
                    with contextlib.suppress(Exception):
                        wrap(module)

                spec.loader.exec_module = patched_exec
                return spec
        return None


def enable() -> None:
    if os.environ.get("STAGEFLOW_BOTOCORE_CACHE", "1") == "0":
        return
    if TARGET in sys.modules:
        wrap(sys.modules[TARGET])
    elif not any(getattr(finder, "stageflow_finder", False) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def install() -> None:
    import shutil
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    shutil.copyfile(__file__, os.path.join(site, f"{NAME}.py"))
    with open(os.path.join(site, f"{NAME}.pth"), "w", encoding="utf-8") as pth:
        pth.write(f"import {NAME}; {NAME}.enable()\n")
    print(f"installed {NAME} into {site} (cache: {CACHE})")


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    install()
