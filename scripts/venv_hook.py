"""Install a development-environment hook (scripts/zip_bytecode_cache.py, scripts/botocore_model_cache.py,
scripts/module_call_hook.py) into this interpreter's site-packages: a copy of the hook's file, and a .pth file that runs
its enable() at every start-up."""

from __future__ import annotations

import os
import py_compile
import shutil
import sysconfig


def install(source: str, name: str, where: str) -> None:
    site = sysconfig.get_paths()["purelib"]
    shutil.copyfile(source, os.path.join(site, f"{name}.py"))
    # Compiled now: every Python of the venv imports it, and PYTHONDONTWRITEBYTECODE would have each compile it again.
    py_compile.compile(os.path.join(site, f"{name}.py"), doraise=True)
    with open(os.path.join(site, f"{name}.pth"), "w", encoding="utf-8") as pth:
        pth.write(f"import {name}; {name}.enable()\n")
    print(f"installed {name} into {site} ({where})")
