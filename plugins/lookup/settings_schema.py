# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: settings_schema
short_description: The schema of an environment's settings, from the collection's role argument specs
version_added: 0.2.0
description:
  - Returns one dict, setting name -> option in argument-spec form (C(type), C(choices), C(elements), C(options),
    C(no_log), C(description)). A numeric option's range is the C((low..high)) in its description.
  - The settings are the C(stageflow.aws.validate) role's C(environment) entry point and the C(main) entry point of
    every other role of the collection (the roles' own settings, such as C(database_engine) or
    C(release_wait_timeout), which group_vars may set too). A role's options are never required of an environment.
  - What C(stageflow.aws.validate) checks and the C(stageflow.aws.typed_settings) callback converts; what
    C(ansible-doc -t role) shows.
author:
  - Stageflow engineers (@stageflow)
"""

EXAMPLES = r"""
- name: Show the type of bake_seconds
  ansible.builtin.debug:
    msg: "{{ lookup('stageflow.aws.settings_schema').bake_seconds.type }}"
"""

RETURN = r"""
_raw:
  description: One dict of settings.
  type: list
  elements: dict
"""

from ansible.plugins.lookup import LookupBase
from ansible_collections.stageflow.aws.plugins.plugin_utils.settings_schema import settings_schema


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [settings_schema()]
