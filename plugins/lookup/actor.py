# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: actor
short_description: The person or pipeline behind this run, as locks and records name it
version_added: 0.1.0
description:
  - Returns, in the first form that applies, V(awx:<user> (job <id>\)) for an AWX job (V(awx (job <id>\)) for a
    scheduled one); V(github:<actor> (run <url>\)) in GitHub Actions, from E(GITHUB_ACTOR), E(GITHUB_SERVER_URL),
    E(GITHUB_REPOSITORY), E(GITHUB_RUN_ID) and E(GITHUB_RUN_ATTEMPT); else V(<user>@<host>), the local user as
    Python's getpass reads it (E(LOGNAME), E(USER), E(LNAME), E(USERNAME)), else the password database's entry of the
    controller process's uid, else V(uid <n>).
  - Reads the controller's environment, never a managed host's. Empty values count as unset.
  - The inventory's C(stageflow_actor) is this lookup with AWX's job variables.
author:
  - Stageflow engineers (@stageflow)
options:
  awx_user:
    description: The AWX user who launched the job (AWX's C(awx_user_name) or C(tower_user_name)); empty outside AWX.
    type: str
    default: ""
  awx_job:
    description: The AWX job's id (C(awx_job_id) or C(tower_job_id)); empty outside AWX.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Say who runs this
  ansible.builtin.debug:
    msg: "{{ lookup('stageflow.aws.actor', awx_user=awx_user_name | default(''), awx_job=awx_job_id | default('')) }}"
"""

RETURN = r"""
_raw:
  description: One string naming the person or pipeline.
  type: list
  elements: str
  sample: ["github:octocat (run https://github.com/example/stageflow/actions/runs/123)"]
"""

from ansible.plugins.lookup import LookupBase
from ansible_collections.stageflow.aws.plugins.module_utils.actor import actor


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [actor(awx_user=self.get_option("awx_user"), awx_job=self.get_option("awx_job"))]
