# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is behind a run, as locks and records name them (the person or pipeline; the AWS identity is the caller's ARN).

One answer for the controller (the `stageflow.aws.actor` lookup, behind the inventory's `stageflow_actor`) and for
the modules that fall back to it when no owner is given:

- an AWX job: ``awx:<user> (job <id>)`` (``awx (job <id>)`` when scheduled), from the extra variables AWX gives
  every job;
- a GitHub Actions run: ``github:<actor> (run <server>/<repository>/actions/runs/<id>[/attempts/<n>])``;
- otherwise the local user and host: ``<user>@<host>``, the user from the environment as Python's getpass reads it
  (LOGNAME, USER, LNAME, USERNAME), else the password database's entry of the process's uid, else ``uid <n>`` -
  never "unknown" when the OS knows who runs the process.

Empty values count as unset.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")  # the order getpass.getuser() reads them in


def _passwd_name(uid: int) -> str:
    try:
        import pwd
    except ImportError:  # not a POSIX host
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no passwd entry, as in some containers
        return ""


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None  # None on Windows


def local_user(
    environ: Mapping[str, str] | None = None,
    uid: int | None = None,
    passwd_name: Callable[[int], str] = _passwd_name,
) -> str:
    """The OS user running this process: the environment's login name, else the uid's passwd entry, else `uid <n>`."""
    environ = os.environ if environ is None else environ
    for variable in USER_VARIABLES:
        if environ.get(variable, "").strip():
            return environ[variable].strip()
    uid = _uid() if uid is None else uid
    if uid is None:
        return "unknown"  # no login name and no uid: the OS does not say
    return passwd_name(uid) or f"uid {uid}"


def github_run_url(environ: Mapping[str, str]) -> str:
    server = (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repository, run_id = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID", "")
    if not (repository and run_id):
        return ""
    attempt = environ.get("GITHUB_RUN_ATTEMPT", "")
    return f"{server}/{repository}/actions/runs/{run_id}" + (f"/attempts/{attempt}" if attempt not in ("", "1") else "")


def actor(
    awx_user: Any = "",
    awx_job: Any = "",
    environ: Mapping[str, str] | None = None,
    uid: int | None = None,
    passwd_name: Callable[[int], str] = _passwd_name,
    hostname: Callable[[], str] = socket.gethostname,
) -> str:
    """The person or pipeline behind this run, in the first form that applies: AWX, GitHub Actions, local user."""
    environ = os.environ if environ is None else environ
    awx_user, awx_job = str(awx_user or "").strip(), str(awx_job or "").strip()
    if awx_user or awx_job:  # a scheduled job has no user
        return ("awx:" + awx_user if awx_user else "awx") + (f" (job {awx_job})" if awx_job else "")
    github_actor = environ.get("GITHUB_ACTOR", "").strip()
    if github_actor:
        run = github_run_url(environ)
        return f"github:{github_actor}" + (f" (run {run})" if run else "")
    host = hostname()
    return local_user(environ, uid, passwd_name) + (f"@{host}" if host else "")
