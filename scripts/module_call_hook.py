"""Cheaper Ansible module calls: the garbage collector paused while one starts, and no heap teardown when it exits;
installed into the project's virtual environment.

Every Ansible module call is a fresh Python process that imports boto3, botocore and Ansible's module_utils and builds
a client: some 120,000 objects that live until the process ends. CPython's cyclic garbage collector scans them about
180 times meanwhile, finding next to nothing, and at exit the interpreter frees them one by one: together about a third
of a module call's CPU beyond its imports (docs/performance.md). In a process whose script is an AnsiballZ payload
(`AnsiballZ_<module>.py`, how the controller runs a module), and only there, this hook:

- turns the collector off at start-up and on again after PAUSE_SECONDS: a short call never runs it, and one that
  waits (an ECS rollout, a bake) collects as usual from then on. Reference counting frees everything else as always;
- ends the process with os._exit, once every other exit handler has run (Ansible's temporary directories, logging's
  flush) and stdout and stderr are flushed, when the program ended with the SystemExit that sys.exit(<int or None>)
  raised in the main thread - exit_json and fail_json end a module so - with that exception's code, as the interpreter
  would. Any other end (an uncaught exception; a caught sys.exit and then the script's end; sys.exit with a message or
  in another thread; an exit handler registered before this hook's) finalises the interpreter as usual; see
  _ModuleExit for the end it cannot tell.

A module prints, returns and exits with what it would. What the skipped teardown would have done is not done:
`__del__` methods of objects still alive at exit (a file left open for the interpreter to close loses what it had
buffered; a NamedTemporaryFile not closed stays). The collection's modules and amazon.aws's close what they open.
Every other Python (ansible-playbook, pytest, the local cloud) is left alone. It is part of the development environment
only (`make venv` installs it; the collection never ships it, and AWX or a user's controller runs modules without it),
like scripts/zip_bytecode_cache.py. `STAGEFLOW_MODULE_CALL_HOOK=0` turns it off. `python scripts/module_call_hook.py
--install` puts it into this interpreter's site-packages with a .pth file that runs enable() at start-up.
"""

from __future__ import annotations

import _thread
import atexit
import gc
import os
import sys

NAME = "stageflow_module_call_hook"
PAUSE_SECONDS = 3.0


class _Leaving:
    """Whether, and with which code, the program ended by a sys.exit of the main thread."""

    def __init__(self) -> None:
        self.decided = False
        self.code: object = None

    def at_exit(self) -> None:
        code = self.code
        fits = code is None or (isinstance(code, int) and -(2**31) <= code < 2**31)  # else the C exit decides
        if not (self.decided and fits) or getattr(sys, "last_value", None) is not None:  # an uncaught exception
            return
        try:
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
        except Exception:  # a stream that cannot be flushed: let the interpreter finish as usual
            return
        os._exit(self.code or 0)


_LEAVING = _Leaving()


class _ModuleExit(SystemExit):
    """The SystemExit of sys.exit(<int or None>) in the main thread. Nothing but the raise refers to it, so it is
    freed where its handling ends: with no Python code running only when the interpreter ended the program with it
    (its code, as a handler left it, is the exit code); anywhere else it was caught, and a later end decides. The one
    case this cannot tell: a SystemExit raised directly (`raise SystemExit(n)`, not through sys.exit) while a caught
    sys.exit is handled or propagating (in an except, a finally or an __exit__): the caught one, freed with it, would
    give the code. A sys.exit there supersedes the one handled. No module the project runs raises SystemExit so:
    tests/unit/test_module_call_hook.py checks that every handler of theirs that can catch one raises it on. A handler
    that checks `type(e) is SystemExit` would see this subclass."""

    superseded = False  # another exit was asked for while this one was handled: that one decides

    def __del__(self) -> None:
        if self.superseded:
            return
        try:
            sys._getframe(1)
        except ValueError:  # freed by the interpreter itself, after the program ended with it
            if not _LEAVING.decided:  # a sys.exit raised while handling this one ended it, and is freed first
                _LEAVING.decided, _LEAVING.code = True, self.code


def _exit(code: object = None) -> None:
    handled = sys.exc_info()[1]
    while handled is not None:  # an exit asked for in an except, a finally or an __exit__ replaces the one handled
        if isinstance(handled, _ModuleExit):
            handled.superseded = True
        handled = handled.__context__
    if _thread.get_ident() == _MAIN_THREAD and (code is None or isinstance(code, int)) and _in_script():
        raise _ModuleExit(code)  # no name refers to it: see _ModuleExit
    _SYS_EXIT(code)


def _in_script() -> bool:
    """Whether the script's own code is running (not an exit handler, where the interpreter ignores a SystemExit)."""
    frame = sys._getframe(2)
    while frame.f_back is not None:
        frame = frame.f_back
    return frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__"


_SYS_EXIT = sys.exit
_MAIN_THREAD = 0


def enable() -> None:
    global _MAIN_THREAD
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if not script.startswith("AnsiballZ_") or os.environ.get("STAGEFLOW_MODULE_CALL_HOOK", "1") == "0":
        return
    # An exit handler registered before this one (another .pth's) would run after it, that is never: keep the
    # interpreter's own end then.
    if atexit._ncallbacks() == 0:
        _MAIN_THREAD = _thread.get_ident()
        sys.exit = _exit
        atexit.register(_LEAVING.at_exit)  # the first registered: it runs after every other exit handler
    if gc.isenabled():  # a collector turned off already (by a parent's choice) is not ours to turn on later
        import threading

        gc.disable()
        resume = threading.Timer(PAUSE_SECONDS, gc.enable)
        resume.daemon = True  # never keeps a finished module call alive
        resume.start()


if __name__ == "__main__" and sys.argv[1:] == ["--install"]:
    from venv_hook import install  # beside this file in scripts/; the installed copy never runs this

    install(__file__, NAME, "no cache: module processes only")
