"""The development environment's hook for module calls (scripts/module_call_hook.py): a script run as an AnsiballZ
payload starts with the garbage collector paused and has it back after the pause, and when it ends by sys.exit it skips
the heap's teardown but keeps its output, its exit handlers and its exit code; any other end, and every other script,
is left alone."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
HOOK = f"""
import sys
sys.path.insert(0, {str(SCRIPTS)!r})
import module_call_hook
module_call_hook.PAUSE_SECONDS = 0.2
module_call_hook.enable()
"""
# A global whose destructor runs only when the interpreter tears the heap down.
TEARDOWN = """
import sys
class Teardown:
    def __del__(self):
        sys.stderr.write("torn down\\n")
kept = Teardown()
"""
# What would change how the script's output or exit is seen: unbuffered output would hide a missing flush.
UNSET = {"STAGEFLOW_MODULE_CALL_HOOK", "PYTHONUNBUFFERED", "PYTHONDEVMODE", "PYTHONWARNINGS", "PYTHONSTARTUP"}


def run(
    folder: Path, name: str, body: str, before: str = "", site: bool = False, **env: str
) -> subprocess.CompletedProcess:
    """`body` after the hook (and `before` before it), in a script named `name`: without site (so without the hook
    `make venv` installed) unless `site`, and with none of UNSET's variables unless given, whatever this process has."""
    script = folder / name
    script.write_text(before + ("" if site else HOOK) + TEARDOWN + body)
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    flags = [] if site else ["-S"]
    command = [sys.executable, *flags, str(script)]
    return subprocess.run(command, env={**base, **env}, capture_output=True, text=True, check=False)


GC_PROBE = """
import gc, json, time
at_start = gc.isenabled()
deadline = time.monotonic() + 10
while not gc.isenabled() and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps([at_start, gc.isenabled()]))
"""


def test_a_module_call_starts_without_the_collector_and_has_it_back_after_the_pause(tmp_path: Path) -> None:
    assert json.loads(run(tmp_path, "AnsiballZ_ecs_promote.py", GC_PROBE).stdout) == [False, True]


def test_a_collector_already_off_stays_off(tmp_path: Path) -> None:
    body = GC_PROBE.replace("+ 10", "+ 1")  # waits a second for a collector that must not come back
    off = "import gc\ngc.disable()\n"  # before the hook runs
    assert json.loads(run(tmp_path, "AnsiballZ_ecs_promote.py", body, before=off).stdout) == [False, False]


EXIT = """
import atexit
atexit.register(lambda: sys.stdout.write("exit handler ran\\n"))
sys.stdout.write('{"changed": false}')  # no newline: still in the buffer
sys.exit(3)
"""


def test_a_module_ending_by_sys_exit_skips_the_teardown_only(tmp_path: Path) -> None:
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", EXIT)
    assert done.returncode == 3
    assert done.stdout == '{"changed": false}exit handler ran\n'
    assert "torn down" not in done.stderr


def test_a_code_changed_by_a_handler_that_raises_it_on_is_the_exit_code(tmp_path: Path) -> None:
    body = "try:\n    sys.exit(0)\nexcept SystemExit as e:\n    e.code = 4\n    raise\n"
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", body)
    assert done.returncode == 4 and "torn down" not in done.stderr


def test_a_sys_exit_while_handling_a_caught_one_gives_the_exit_code(tmp_path: Path) -> None:
    body = "try:\n    sys.exit(0)\nexcept SystemExit:\n    sys.exit(2)\n"
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", body)
    assert done.returncode == 2 and "torn down" not in done.stderr


def test_the_hook_make_venv_installed_is_at_work_in_a_module_call(tmp_path: Path) -> None:
    if importlib.util.find_spec("stageflow_module_call_hook") is None:
        pytest.skip("outside the project's virtual environment (make venv installs the hook)")
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", "import gc\nprint(gc.isenabled())\n" + EXIT, site=True)
    assert done.stdout == 'False\n{"changed": false}exit handler ran\n' and done.returncode == 3
    assert "torn down" not in done.stderr


@pytest.mark.parametrize(
    ("name", "env"),
    [
        ("ansible-playbook.py", {}),
        ("not_AnsiballZ_x.py", {}),
        ("AnsiballZ_ecs_promote.py", {"STAGEFLOW_MODULE_CALL_HOOK": "0"}),
    ],
)
def test_every_other_python_or_the_hook_turned_off_is_left_alone(tmp_path: Path, name: str, env: dict) -> None:
    assert json.loads(run(tmp_path, name, GC_PROBE.replace("+ 10", "+ 0"), **env).stdout) == [True, True]
    done = run(tmp_path, name, EXIT, **env)
    assert (done.returncode, done.stdout) == (3, '{"changed": false}exit handler ran\n')
    assert "torn down" in done.stderr


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        # A caught sys.exit, then an uncaught exception: the exception's code and traceback.
        ("try:\n    sys.exit(0)\nexcept SystemExit:\n    pass\nraise ValueError('late')\n", 1, "ValueError: late"),
        # A caught sys.exit, then the end of the script.
        ("try:\n    sys.exit(3)\nexcept SystemExit:\n    pass\n", 0, ""),
        # sys.exit with a message while a caught sys.exit is handled: in an except, a finally, an __exit__.
        ("try:\n    sys.exit(0)\nexcept SystemExit:\n    sys.exit('m1')\n", 1, "m1"),
        ("try:\n    sys.exit(0)\nfinally:\n    sys.exit('m2')\n", 1, "m2"),
        (
            "class Done:\n    def __enter__(self):\n        pass\n    def __exit__(self, *exc):\n"
            "        sys.exit('m3')\nwith Done():\n    sys.exit(0)\n",
            1,
            "m3",
        ),
        # sys.exit in an exit handler after a normal end: the interpreter ignores it.
        ("import atexit\natexit.register(sys.exit, 7)\n", 0, ""),
        # A code too large for the C exit.
        ("sys.exit(2**40)\n", 0, ""),
        # sys.exit with a message: printed, code 1.
        ("sys.exit('a message')\n", 1, "a message"),
        # sys.exit in another thread ends that thread; the main thread's end decides.
        ("import threading\nt = threading.Thread(target=sys.exit, args=(5,))\nt.start()\nt.join()\n", 0, ""),
    ],
)
def test_any_other_end_finalises_as_usual(tmp_path: Path, body: str, code: int, says: str) -> None:
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", body)
    assert done.returncode == code and says in done.stderr
    assert "torn down" in done.stderr


def test_an_exit_handler_registered_before_the_hook_keeps_the_usual_end(tmp_path: Path) -> None:
    before = "import atexit, sys\natexit.register(lambda: sys.stderr.write('first handler ran\\n'))\n"
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", EXIT, before=before)
    assert done.returncode == 3 and "first handler ran" in done.stderr and "torn down" in done.stderr


# The module code the project's playbooks run, where a handler could catch a module's SystemExit.
SITE = Path(importlib.util.find_spec("ansible").origin).parents[1]
MODULE_CODE = [
    SCRIPTS.parent / "plugins" / "modules",
    SCRIPTS.parent / "plugins" / "module_utils",
    SITE / "ansible" / "module_utils",
    *(
        SITE / "ansible_collections" / c / "aws" / "plugins" / d
        for c in ("amazon", "community")
        for d in ("modules", "module_utils")
    ),
]
# Handlers that can catch a SystemExit and do not raise it on, read and found harmless: their try never reaches a
# module's exit.
HARMLESS = {("ansible/module_utils/_internal/_traceback.py", "_is_module_traceback_enabled")}


def test_no_module_code_replaces_a_caught_system_exit() -> None:
    """What the hook cannot tell (a caught sys.exit replaced by a plain SystemExit) does not happen in the modules the
    project runs: every handler that can catch a SystemExit (bare, SystemExit, BaseException) ends by raising it on."""
    found = []
    for folder in MODULE_CODE:
        assert folder.is_dir(), folder
        for path in folder.rglob("*.py"):
            where = path.relative_to(SITE if SITE in path.parents else SCRIPTS.parent).as_posix()
            for function, handler in handlers(ast.parse(path.read_text(encoding="utf-8"))):
                if not catches_system_exit(handler) or (where, function) in HARMLESS:
                    continue
                last = handler.body[-1]
                if not (isinstance(last, ast.Raise) and last.exc is None):
                    found.append(f"{path}:{handler.lineno} ({function or 'module level'})")
    assert not found, "handlers that may replace a module's SystemExit (scripts/module_call_hook.py): " + ", ".join(
        sorted(set(found))
    )


def catches_system_exit(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(k is None or (isinstance(k, ast.Name) and k.id in ("SystemExit", "BaseException")) for k in kinds)


def handlers(node: ast.AST, function: str = ""):
    """Every except clause under `node`, with the name of the function it is in."""
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
        if isinstance(child, ast.ExceptHandler):
            yield function, child
        yield from handlers(child, inner)
