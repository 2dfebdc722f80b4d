"""The development environment's garbage-collector pause for module calls (scripts/module_gc_pause.py): a script run
as an AnsiballZ payload starts with the collector off and has it back after the pause; every other script is left
alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
PROBE = f"""
import gc, json, sys, time
{{prelude}}
sys.path.insert(0, {str(SCRIPTS)!r})
import module_gc_pause
module_gc_pause.PAUSE_SECONDS = 0.2
module_gc_pause.enable()
at_start = gc.isenabled()
time.sleep(0.8)
print(json.dumps([at_start, gc.isenabled()]))
"""


def probe(folder: Path, name: str, prelude: str = "", **env: str) -> list[bool]:
    """Whether the collector was on at start-up and after the pause, in a script named `name`. The process runs
    without site (so without the hook `make venv` installed) and with STAGEFLOW_MODULE_GC_PAUSE unset unless given,
    whatever this one has."""
    script = folder / name
    script.write_text(PROBE.replace("{prelude}", prelude))
    base = {k: v for k, v in os.environ.items() if k != "STAGEFLOW_MODULE_GC_PAUSE"}
    out = subprocess.run(
        [sys.executable, "-S", str(script)], env={**base, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_module_call_starts_without_the_collector_and_has_it_back_after_the_pause(tmp_path: Path) -> None:
    assert probe(tmp_path, "AnsiballZ_ecs_promote.py") == [False, True]


@pytest.mark.parametrize("name", ["ansible-playbook.py", "localcloud.py", "not_AnsiballZ_x.py"])
def test_every_other_python_is_left_alone(tmp_path: Path, name: str) -> None:
    assert probe(tmp_path, name) == [True, True]


def test_it_is_turned_off_by_its_variable(tmp_path: Path) -> None:
    assert probe(tmp_path, "AnsiballZ_ecs_promote.py", STAGEFLOW_MODULE_GC_PAUSE="0") == [True, True]


def test_a_collector_already_off_stays_off(tmp_path: Path) -> None:
    assert probe(tmp_path, "AnsiballZ_ecs_promote.py", prelude="gc.disable()") == [False, False]
