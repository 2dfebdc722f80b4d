"""Cheaper Ansible module calls: the garbage collector paused while one starts, and no heap teardown when it exits;
installed into the project's virtual environment.

Every Ansible module call is a fresh Python process that imports boto3, botocore and Ansible's module_utils and builds
a client: some 120,000 objects that live until the process ends. CPython's cyclic garbage collector scans them about
180 times meanwhile, finding next to nothing, and at exit the interpreter frees them one by one: together about a third
of a module call's CPU beyond its imports (docs/performance.md). In a process whose script is an AnsiballZ payload
(`AnsiballZ_<module>.py`, how the controller runs a module), and only there, this hook:

- turns the collector off at start-up and on again after PAUSE_SECONDS: a short call never runs it, and one that
  waits (an ECS rollout, a bake) collects as usual from then on. Reference counting frees everything else as always;
- ends the process with os._exit once everything else registered to run at exit has run (Ansible's temporary
  directories, logging's flush: handlers registered after this one run before it), stdout and stderr flushed, when
  the main thread left through sys.exit(<int or None>), as a module does by exit_json and fail_json. Any other way
  out (an uncaught exception, even after a SystemExit was caught; sys.exit with a message; a sys.exit in another
  thread) finalises the interpreter as usual.

A module computes, prints and returns exactly what it would; only when memory is handed back moves. Every other Python
(ansible-playbook, pytest, the local cloud) is left alone. It is part of the development environment only (`make venv`
installs it; the collection never ships it), like scripts/zip_bytecode_cache.py. `STAGEFLOW_MODULE_CALL_HOOK=0` turns
it off. `python scripts/module_call_hook.py --install` puts it into this interpreter's site-packages with a .pth file
that runs enable() at start-up.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

NAME = "stageflow_module_call_hook"
PAUSE_SECONDS = 3.0


class _Exit:
    """How the main thread is leaving: the code it gave sys.exit, until anything else happens."""

    def __init__(self, main_thread: int) -> None:
        self.main_thread = main_thread
        self.code: int | None = None
        self.fast = False

    def exit(self, code: object = None) -> None:
        import _thread

        if _thread.get_ident() == self.main_thread:
            self.fast = code is None or (isinstance(code, int) and not isinstance(code, bool))
            self.code = code if self.fast else None
        _SYS_EXIT(code)

    def excepthook(self, kind, value, traceback) -> None:
        self.fast = False  # an exception ends the process, not the sys.exit some code caught before it
        _SYS_EXCEPTHOOK(kind, value, traceback)

    def at_exit(self) -> None:
        if not self.fast:
            return
        try:
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
        except Exception:  # a stream that cannot be flushed: let the interpreter finish as usual
            return
        os._exit(self.code or 0)


_SYS_EXIT = sys.exit
_SYS_EXCEPTHOOK = sys.excepthook


def enable() -> None:
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if not script.startswith("AnsiballZ_") or os.environ.get("STAGEFLOW_MODULE_CALL_HOOK", "1") == "0":
        return
    import _thread

    leaving = _Exit(_thread.get_ident())
    sys.exit = leaving.exit
    sys.excepthook = leaving.excepthook
    atexit.register(leaving.at_exit)  # the first registered: it runs after every other exit handler
    if gc.isenabled():  # a collector turned off already (by a parent's choice) is not ours to turn on later
        import threading

        gc.disable()
        resume = threading.Timer(PAUSE_SECONDS, gc.enable)
        resume.daemon = True  # never keeps a finished module call alive
        resume.start()


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    from venv_hook import install  # beside this file in scripts/; the installed copy never runs this

    install(__file__, NAME, "no cache: module processes only")
