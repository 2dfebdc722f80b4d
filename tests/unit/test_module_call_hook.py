"""The development environment's hook for module calls (scripts/module_call_hook.py): a script run as an AnsiballZ
payload starts with the garbage collector paused and has it back after the pause, and leaves through sys.exit without
the heap's teardown but with its output, its exit handlers and its exit code; any other way out, and every other
script, is left alone."""

from __future__ import annotations

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
class Teardown:
    def __del__(self):
        sys.stderr.write("torn down\\n")
kept = Teardown()
"""


def run(folder: Path, name: str, body: str, before: str = "", **env: str) -> subprocess.CompletedProcess:
    """`body` after the hook (and `before` before it), in a script named `name`: without site (so without the hook
    `make venv` installed) and with STAGEFLOW_MODULE_CALL_HOOK unset unless given, whatever this process has."""
    script = folder / name
    script.write_text(before + HOOK + TEARDOWN + body)
    base = {k: v for k, v in os.environ.items() if k != "STAGEFLOW_MODULE_CALL_HOOK"}
    return subprocess.run([sys.executable, "-S", str(script)], env={**base, **env}, capture_output=True, text=True)


GC_PROBE = """
import gc, json, time
at_start = gc.isenabled()
time.sleep(0.8)
print(json.dumps([at_start, gc.isenabled()]))
"""


def test_a_module_call_starts_without_the_collector_and_has_it_back_after_the_pause(tmp_path: Path) -> None:
    assert json.loads(run(tmp_path, "AnsiballZ_ecs_promote.py", GC_PROBE).stdout) == [False, True]


def test_a_collector_already_off_stays_off(tmp_path: Path) -> None:
    off = "import gc\ngc.disable()\n"  # before the hook runs
    assert json.loads(run(tmp_path, "AnsiballZ_ecs_promote.py", GC_PROBE, before=off).stdout) == [False, False]


EXIT = """
import atexit
atexit.register(lambda: sys.stdout.write("exit handler ran\\n"))
sys.stdout.write('{"changed": false}')  # no newline: still in the buffer
sys.exit(3)
"""


def test_a_module_leaving_through_sys_exit_skips_the_teardown_only(tmp_path: Path) -> None:
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", EXIT)
    assert done.returncode == 3
    assert done.stdout == '{"changed": false}exit handler ran\n'
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
    assert json.loads(run(tmp_path, name, GC_PROBE, **env).stdout) == [True, True]
    done = run(tmp_path, name, EXIT, **env)
    assert (done.returncode, done.stdout) == (3, '{"changed": false}exit handler ran\n')
    assert "torn down" in done.stderr


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        # A caught sys.exit, then an uncaught exception: the exception's code and traceback.
        ("try:\n    sys.exit(0)\nexcept SystemExit:\n    pass\nraise ValueError('late')\n", 1, "ValueError: late"),
        # sys.exit with a message: printed, code 1.
        ("sys.exit('a message')\n", 1, "a message"),
        # sys.exit in another thread ends that thread; the main thread's end decides.
        ("import threading\nt = threading.Thread(target=sys.exit, args=(5,))\nt.start()\nt.join()\n", 0, ""),
    ],
)
def test_any_other_way_out_finalises_as_usual(tmp_path: Path, body: str, code: int, says: str) -> None:
    done = run(tmp_path, "AnsiballZ_ecs_promote.py", body)
    assert done.returncode == code and says in done.stderr
    assert "torn down" in done.stderr
