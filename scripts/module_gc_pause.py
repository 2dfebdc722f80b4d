"""Ansible module calls without the garbage collector's start-up passes, installed into the project's virtual
environment.

Every Ansible module call is a fresh Python process that imports boto3, botocore and Ansible's module_utils and builds
a client: some 120,000 objects that live until the process ends. CPython's cyclic garbage collector runs about 180
times meanwhile, finding next to nothing, and once more at exit: about 40 ms of a module call's 0.3 s of CPU
(docs/performance.md). In a process whose script is an AnsiballZ payload (`AnsiballZ_<module>.py`, how the controller
runs a module), this hook turns the collector off at start-up and on again after PAUSE_SECONDS: a short module call
never runs it, and one that waits (an ECS rollout, a bake) collects as usual from then on. Reference counting frees
everything else as always, so the module computes exactly what it would; only when cycles are collected moves. Every
other Python (ansible-playbook, pytest, the local cloud) is left alone. It is part of the development environment only
(`make venv` installs it; the collection never ships it), like scripts/zip_bytecode_cache.py.
`STAGEFLOW_MODULE_GC_PAUSE=0` turns it off. `python scripts/module_gc_pause.py --install` puts it into this
interpreter's site-packages with a .pth file that runs enable() at start-up.
"""

from __future__ import annotations

import gc
import os
import sys

NAME = "stageflow_module_gc_pause"
PAUSE_SECONDS = 3.0


def enable() -> None:
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if not script.startswith("AnsiballZ_") or os.environ.get("STAGEFLOW_MODULE_GC_PAUSE", "1") == "0":
        return
    if not gc.isenabled():  # turned off already (python -X or a parent's choice): not ours to turn on later
        return
    import threading

    gc.disable()
    resume = threading.Timer(PAUSE_SECONDS, gc.enable)
    resume.daemon = True  # never keeps a finished module call alive
    resume.start()


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    from venv_hook import install  # beside this file in scripts/; the installed copy never runs this

    install(__file__, NAME, "no cache: module processes only")
