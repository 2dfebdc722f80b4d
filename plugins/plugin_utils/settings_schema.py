# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schema of an environment's settings, read on the controller from the collection's role argument specs.

One schema, in the files ansible-doc shows: the validate role's ``environment`` entry point (the environment's
settings, with their types, choices and ranges) and every other role's ``main`` entry point (the roles' own settings,
such as ``database_engine`` or ``release_wait_timeout``, which group_vars may set as well). An option in both is the
environment's. A role's own options are never required of an environment: the role's defaults give them.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Any

import yaml

# libyaml's loader where PyYAML has it (ten times faster; every playbook run reads the argument specs once)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return (yaml.load(handle, Loader=_LOADER) or {}).get("argument_specs") or {}


def _optional(option: dict[str, Any]) -> dict[str, Any]:
    option = {key: value for key, value in option.items() if key != "required"}
    if isinstance(option.get("options"), dict):
        option["options"] = {name: _optional(sub) for name, sub in option["options"].items()}
    return option


@functools.cache
def _schema(root: str) -> dict[str, Any]:
    roles = os.path.join(root, "roles")
    schema: dict[str, Any] = {}
    for role in sorted(os.listdir(roles)):
        path = os.path.join(roles, role, "meta", "argument_specs.yml")
        if role == "validate" or not os.path.isfile(path):
            continue
        for name, option in ((_read(path).get("main") or {}).get("options") or {}).items():
            schema.setdefault(name, _optional(option))
    environment = _read(os.path.join(roles, "validate", "meta", "argument_specs.yml"))["environment"]["options"]
    schema.update(environment)
    return schema


def settings_schema(root: str = COLLECTION_ROOT) -> dict[str, Any]:
    """Every setting an environment may have, by name, in argument-spec form (a copy: callers may change it)."""
    return copy.deepcopy(_schema(root))
