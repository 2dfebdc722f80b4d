# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: typed_settings
type: aggregate
short_description: Gives settings passed as -e key=value the types of their schema
version_added: 0.2.0
description:
  - C(-e key=value) always gives text, so C(-e bake_seconds=30) is the string C("30") and C(-e ssl_enabled=false) the
    string C("false"), not the boolean false. For every extra variable that is a Stageflow setting (see the
    C(stageflow.aws.settings_schema) lookup) typed other than C(str), this callback converts text that is
    unambiguous before any task runs - an int, a float, C(true)/C(false)/C(yes)/C(no)/C(on)/C(off), or a JSON list
    or object - so that every play and role sees the typed value.
  - Text that does not convert stays as it is, and C(stageflow.aws.validate) refuses it before any AWS call, naming the
    setting and showing the JSON C(-e) form. Extra variables given as JSON or YAML (C(-e @file), C(-e '{...}'), AWX's
    extra variables and surveys) already have their types; other variables are never touched.
  - The collection's C(ansible.cfg) enables it (C(callbacks_enabled)); it prints nothing except at C(-vv).
requirements:
  - Enabled in C(callbacks_enabled).
author:
  - Stageflow engineers (@stageflow)
"""

from ansible.plugins.callback import CallbackBase
from ansible_collections.stageflow.aws.plugins.module_utils.environments import coerce_settings
from ansible_collections.stageflow.aws.plugins.plugin_utils.settings_schema import settings_schema


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stageflow.aws.typed_settings"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_play_start(self, play):
        # The extra variables live in the play's variable manager (one per run); converted in place, before the play's
        # first task templates them. Converting again in a later play finds nothing left to convert.
        manager = getattr(play, "_variable_manager", None)
        extra = getattr(manager, "extra_vars", None)
        if not isinstance(extra, dict) or not extra:
            return
        schema = settings_schema()
        for key, value in coerce_settings(extra, schema).items():
            self._display.vv(f"stageflow.aws.typed_settings: -e {key} read as a {schema[key]['type']}")
            extra[key] = value
