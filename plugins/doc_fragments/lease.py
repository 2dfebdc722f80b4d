# Copyright: Stageflow engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `lock` option of the modules that wait: the deployment lock they renew meanwhile."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  lock:
    description:
      - The deployment lock this run holds (M(stageflow.aws.deploy_lock)), renewed every third of its lease while the
        module waits, by DynamoDB's clock. Finding it gone (an abort took it over, someone force-released it) stops
        the module at once, leaving what it was changing to the lock's new holder.
    type: dict
    suboptions:
      table:
        description: The lock table.
        type: str
        required: true
      environment:
        description: The environment whose lock it is.
        type: str
        required: true
      lock_id:
        description: This run's lock id.
        type: str
        required: true
      lease_seconds:
        description: The lease each renewal grants.
        type: int
        required: true
"""
