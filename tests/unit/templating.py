"""group_vars values as Ansible templates them, for unit tests that read the shipped inventory's files."""

from __future__ import annotations

import jinja2
import jinja2.nativetypes


def native(value, variables: dict):
    """Each string a Jinja template, rendered to the native type it gives (as Ansible 2.19 does)."""
    if isinstance(value, dict):
        return {key: native(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [native(item, variables) for item in value]
    if isinstance(value, str) and "{{" in value:
        return (
            jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
            .from_string(value)
            .render(**variables)
        )
    return value
