"""A cache of botocore's parsed service models, installed into the project's virtual environment.

Every Ansible module runs as a fresh Python process that builds its boto3 client, and botocore reads the service's
model (a gzipped JSON file: EC2's is 4 MiB) and its endpoints again each time, parsing them into OrderedDicts: about
0.15 s of an EC2 module call's 0.4 s. This cache keeps what botocore parsed, pickled, by the file's path, inode,
size, and modification and change times (a file replaced while it is parsed is not cached), so a module call loads
it in about a quarter of the time and gets exactly what parsing would give (the same OrderedDicts; an entry may hold
nothing else, so a planted one runs no code). Anything that goes wrong falls back to parsing; a cache that cannot be
written costs nothing more. It is part of the development environment only (`make venv` installs it; the collection
never ships it), like scripts/zip_bytecode_cache.py, where it makes the playbooks, the demo, the local cloud and the
tests cost less CPU (docs/performance.md). `STAGEFLOW_BOTOCORE_CACHE=0` turns it off. `python
scripts/botocore_model_cache.py --install` puts it into this interpreter's site-packages with a .pth file that wraps
botocore.loaders when something imports it (nothing is imported at start-up).
"""

from __future__ import annotations

import os
import sys

NAME = "stageflow_botocore_model_cache"
CACHE = os.path.join(sys.prefix, "botocore-model-cache")  # inside the virtual environment, which `make clean` removes
TARGET = "botocore.loaders"


def _identity(full_path: str) -> tuple:
    """What says a file is the one cached: where it is, which inode, its size and its times (ctime cannot be set back
    by a copy that keeps times, and changes when a file is replaced)."""
    st = os.stat(full_path)
    return (os.fsencode(full_path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _load(path: str):
    """An entry: only OrderedDicts and JSON's own types, so that an entry planted in the cache cannot run code."""
    import pickle

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a botocore model")

    with open(path, "rb") as cached:
        return _Unpickler(cached).load()


def cached_load(parse, full_path: str, open_method):
    """botocore's JSONFileLoader._load_file(full_path, open_method) through the cache (`parse` is the original)."""
    import contextlib
    import hashlib
    import pickle
    import threading

    try:
        before = _identity(full_path)
        key = hashlib.sha256(repr(before).encode()).hexdigest()
        path = os.path.join(CACHE, key[:2], key)
    except Exception:  # no such file (botocore's own answer is None), or a path the cache cannot name: parse
        return parse(full_path, open_method)
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    except Exception:  # a damaged or foreign entry: dropped, to be written whole again
        with contextlib.suppress(OSError):
            os.unlink(path)
    data = parse(full_path, open_method)
    try:
        if data is not None and _identity(full_path) == before:  # not replaced while it was parsed
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            partial = f"{path}.{os.getpid()}.{threading.get_ident()}"
            try:
                with open(partial, "wb") as out:
                    pickle.dump(data, out, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(partial, path)  # whole or not at all, when processes write the same entry at once
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
    except Exception:  # a cache that cannot be written (read-only, full, another owner's) costs nothing more
        pass
    return data


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


class _Finder:
    """Finds nothing itself: when botocore.loaders is imported, it takes the spec the other finders give and patches
    the module once it has run. Any other module, or a spec it cannot patch, is left to the others as it is."""

    stageflow_finder = True  # another copy of this finder (another module's) is passed over too
    searching = False  # its own lookup is under way: it never answers itself

    def find_spec(self, fullname, path, target=None):
        # Python holds the module's import lock while finders are asked, so one flag serves every thread.
        if fullname != TARGET or self.searching:
            return None
        self.searching = True
        try:
            for finder in sys.meta_path:
                if getattr(finder, "stageflow_finder", False) or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is None:
                    continue
                if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                    return None  # the import goes on as it would without this finder
                exec_module = spec.loader.exec_module

                def patched_exec(module, loader=spec.loader, exec_module=exec_module):
                    vars(loader).pop("exec_module", None)  # the loader as it was, for anything else it loads
                    exec_module(module)
                    import contextlib  # here, not at start-up: every Python in the venv loads this file

                    with contextlib.suppress(Exception):  # a botocore this cannot patch runs as it is
                        wrap(module)

                spec.loader.exec_module = patched_exec
                return spec
            return None
        finally:
            self.searching = False


def enable() -> None:
    if os.environ.get("STAGEFLOW_BOTOCORE_CACHE", "1") == "0":
        return
    if TARGET in sys.modules:
        wrap(sys.modules[TARGET])
    elif not any(getattr(finder, "stageflow_finder", False) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    from venv_hook import install  # beside this file in scripts/; the installed copy never runs this

    install(__file__, NAME, f"cache: {CACHE}")
