"""A bytecode cache for code imported from zip files, installed into the project's virtual environment.

Every Ansible module runs as a fresh Python process that imports its code (the module, ansible.module_utils,
amazon.aws's module_utils) from the AnsiballZ zip the controller sent; Python's zipimport cannot write .pyc files,
so each module call compiles all of that source again: about a fifth of a module call's CPU. This cache keeps the
compiled code by a hash of the source (and the Python's bytecode version), so the result is exactly what compiling
would give; the code objects get the file name they are imported from, as compiled ones have. Anything that goes
wrong falls back to compiling. It is part of the development environment only (`make venv` installs it; the
collection never ships it), where it makes the playbooks, the demo and the tests cost less CPU
(docs/performance.md). `python scripts/zip_bytecode_cache.py --install` puts it into this interpreter's
site-packages with a .pth file that loads it at start-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
import types
import zipimport

NAME = "stageflow_zip_bytecode_cache"
CACHE = os.path.join(sys.prefix, "zip-bytecode-cache")  # inside the virtual environment, which `make clean` removes
# What else compiling depends on: the interpreter's bytecode (its magic number) and -O / PYTHONOPTIMIZE.
_TAG = f"{importlib.util.MAGIC_NUMBER.hex()} {marshal.version} {sys.flags.optimize}".encode()
_compile = getattr(zipimport, "_compile_source", None)


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(_with_filename(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _compile_cached(pathname: str, source: bytes) -> types.CodeType:
    key = hashlib.sha256(_TAG + b"\0" + source).hexdigest()
    path = os.path.join(CACHE, key[:2], key)
    partial = f"{path}.{os.getpid()}"
    try:
        try:
            with open(path, "rb") as cached:
                return _with_filename(marshal.loads(cached.read()), pathname)
        except FileNotFoundError:
            pass
        code = _compile(pathname, source)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "wb") as out:
            out.write(marshal.dumps(code))
        os.replace(partial, path)  # whole or not at all, when processes write the same entry at once
        return code
    except Exception:  # a cache must never be the reason an import fails: compile, and drop what is damaged
        for leftover in (path, partial):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        return _compile(pathname, source)


def enable() -> None:
    if _compile is not None and os.environ.get("STAGEFLOW_ZIP_BYTECODE_CACHE", "1") != "0":
        zipimport._compile_source = _compile_cached


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    from venv_hook import install  # beside this file in scripts/; the installed copy never runs this

    install(__file__, NAME, f"cache: {CACHE}")
