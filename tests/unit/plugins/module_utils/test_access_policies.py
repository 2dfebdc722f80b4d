"""Stageflow's IAM policies, built from names and the actions catalogue, and linted with parliament (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.stageflow.aws.plugins.filter import access
from ansible_collections.stageflow.aws.plugins.module_utils import access_policies as ap
from parliament import analyze_policy_string

ROOT = Path(__file__).resolve().parents[4]
ACCOUNT, REGION = "123456789012", "us-east-1"
CATALOGUE = yaml.safe_load((ROOT / "roles" / "access" / "vars" / "main.yml").read_text())["access_catalogue"]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "access" / "defaults" / "main.yml").read_text())
WORKLOAD = DEFAULTS["access_workload_policies"]


def resource_names(env: str, app: str = "movie-app") -> dict[str, str]:
    return {
        "vpc": f"{env}-{app}-vpc",
        "cluster": f"{env}-{app}-cluster",
        "service": f"{env}-{app}-service",
        "task_family": f"{env}-{app}-task",
        "alb": f"{env}-{app}-alb",
        "asg": f"{env}-{app}-asg",
        "target_group_blue": f"{env}-app-blue",
        "target_group_green": f"{env}-app-green",
        "client_repo": f"{env}-{app}-client-repo",
        "server_repo": f"{env}-{app}-server-repo",
        "database": f"{env}-{app}-db",
        "dashboard": f"{env}-{app}",
        "lock_table": f"{env}-{app}-deploy-locks",
        "records_table": f"{env}-{app}-deployments",
        "snapshot_policy_parameter": f"/stageflow/{env}/{app}/snapshot-policy",
        "alarm_prefix": f"{env}-{app}",
    }


ENVIRONMENTS = {
    e: {"app_name": "movie-app", "resource_names": resource_names(e)} for e in ("dev", "staging", "prod", "feature-*")
}
SCOPES = [
    {
        "name": "nonprod",
        "kind": "deployer",
        "environments": ["dev", "staging", "feature-*"],
        "reads": [],
        "image_sources": ["dev"],
        "playbooks": DEFAULTS["access_deployer_playbooks"] + DEFAULTS["access_feature_playbooks"],
        "github_environments": ["dev", "staging", "feature-*"],
        "workload_policies": WORKLOAD,
    },
    {
        "name": "prod",
        "kind": "deployer",
        "environments": ["prod"],
        "reads": ["staging"],
        "image_sources": ["dev"],
        "playbooks": DEFAULTS["access_deployer_playbooks"],
        "github_environments": ["production"],
        "workload_policies": WORKLOAD,
    },
    {
        "name": "readonly",
        "kind": "readonly",
        "environments": ["dev", "staging", "prod", "feature-*"],
        "playbooks": DEFAULTS["access_readonly_playbooks"],
    },
]


def built(scopes=None) -> dict:
    scopes = SCOPES if scopes is None else scopes
    return access.access_policies(
        ENVIRONMENTS, scopes, CATALOGUE, ACCOUNT, REGION, "aws", "stageflow-workload-boundary", "stageflow-"
    )


def statements(result: dict, scope: str) -> list[dict]:
    return [s for p in result["policies"] if p["scope"] == scope for s in p["document"]["Statement"]]


def resources_of(result: dict, scope: str, action: str) -> list[str]:
    found = []
    for statement in statements(result, scope):
        if statement["Effect"] == "Allow" and action in statement["Action"]:
            found += [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
    return found


def test_the_catalogue_names_only_actions_aws_knows_with_their_resource_types() -> None:
    assert len(CATALOGUE) > 50
    for action, info in CATALOGUE.items():
        assert info["access"] in ("Read", "List", "Write", "Tagging", "Permissions management"), action
        assert info["playbooks"], action


# Resource types of actions that act on one of several kinds, of which Stageflow has none: network load balancers'
# listeners and rules, Aurora clusters. parliament wants every kind an action lists.
NOT_STAGEFLOWS = (":listener/net/", ":listener-rule/net/", ":rds:*:*:cluster:")


def elsewhere(finding) -> bool:
    return finding.issue == "RESOURCE_MISMATCH" and all(
        any(kind in d["required_format"] for kind in NOT_STAGEFLOWS) for d in finding.detail
    )


def test_every_policy_fits_a_managed_policy_and_passes_parliament() -> None:
    result = built()
    for policy in [*result["policies"], result["boundary"]]:
        text = json.dumps(policy["document"])
        assert len(json.dumps(policy["document"], separators=(",", ":"))) <= ap.MANAGED_POLICY_CHARACTERS
        findings = [
            (f.issue, f.detail)
            for f in analyze_policy_string(text).findings
            # Actions AWS allows only on "*" are listed as such on purpose (docs/security.md).
            if f.issue != "RESOURCE_STAR" and not elsewhere(f)
        ]
        assert findings == [], f"{policy['name']}: {findings}"


def test_the_non_prod_deployer_changes_only_dev_staging_and_feature_resources() -> None:
    result = built()
    service_arns = resources_of(result, "nonprod", "ecs:UpdateService")
    assert f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/dev-movie-app-cluster/dev-movie-app-service*" in service_arns
    assert f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/feature-*-movie-app-cluster/feature-*-movie-app-service*" in (
        service_arns
    )
    everything = json.dumps(statements(result, "nonprod"))
    assert "prod-movie-app" not in everything
    assert "prod-app-" not in everything
    assert resources_of(result, "nonprod", "dynamodb:PutItem") and all(
        "prod-" not in arn for arn in resources_of(result, "nonprod", "dynamodb:PutItem")
    )


def test_the_prod_deployer_reads_staging_but_cannot_change_it() -> None:
    result = built()
    reads = resources_of(result, "prod", "ecs:DescribeServices")
    writes = resources_of(result, "prod", "ecs:UpdateService")
    assert any("service/staging-movie-app-cluster/" in arn for arn in reads) or "*" in reads
    assert writes and all("service/prod-movie-app-cluster/" in arn for arn in writes)


def test_roles_are_created_only_with_the_boundary_and_passed_only_to_the_workload() -> None:
    result = built()
    by_sid = {s["Sid"]: s for s in statements(result, "nonprod")}
    create = by_sid["CreateTheEnvironmentsRolesOnlyWithTheBoundary"]
    assert "iam:CreateRole" in create["Action"]
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/stageflow-workload-boundary"
    assert create["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    attach = by_sid["AttachOnlyTheWorkloadsManagedPolicies"]
    assert attach["Condition"]["ArnEquals"]["iam:PolicyARN"] == sorted(WORKLOAD)
    assert by_sid["PassOnlyTheEnvironmentsRolesToTheWorkload"]["Condition"]["StringEquals"]["iam:PassedToService"]


def test_the_read_only_identity_has_no_write_action() -> None:
    levels = {a: i["access"] for a, i in CATALOGUE.items()}
    for statement in statements(built(), "readonly"):
        assert all(levels[a] in ("Read", "List") for a in statement["Action"]), statement


def test_a_scope_naming_an_unknown_environment_is_refused() -> None:
    scopes = [{**SCOPES[0], "environments": ["dev", "qa"]}]
    with pytest.raises(AnsibleFilterError, match="'qa' is not an environment of the inventory"):
        built(scopes)


def test_a_scope_that_would_attach_administrator_access_is_refused() -> None:
    scopes = [{**SCOPES[0], "workload_policies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}]
    with pytest.raises(AnsibleFilterError, match="must not name arn:aws:iam::aws:policy/AdministratorAccess"):
        built(scopes)


def test_a_policy_that_grants_everything_is_refused() -> None:
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    with pytest.raises(ap.AccessError, match="would allow"):
        ap.check(everything, "x")
    service_wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ecs:*"], "Resource": "*"}]}
    with pytest.raises(ap.AccessError, match=r"ecs:\*"):
        ap.check(service_wide, "x")


def test_the_trust_policy_pins_the_repository_and_the_github_environments() -> None:
    trust = access.access_trust_policy(SCOPES[1], ACCOUNT, "token.actions.githubusercontent.com", "org/app")
    statement = trust["Statement"][0]
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert statement["Condition"]["StringLike"] == {
        "token.actions.githubusercontent.com:sub": ["repo:org/app:environment:production"]
    }
    with pytest.raises(AnsibleFilterError, match="owner>/<repository"):
        access.access_trust_policy(SCOPES[1], ACCOUNT, "token.actions.githubusercontent.com", "org/*")


# The writes AWS's Service Authorization Reference defines on no resource, or on resources named by generated ids
# with no condition key (Route 53's zones: docs/security.md, known gap). Any other write on "*" must have a condition.
WRITES_ONLY_ON_ANY = {
    "acm:RequestCertificate",
    "ecs:DeregisterTaskDefinition",
    "route53:ChangeResourceRecordSets",
    "route53:ChangeTagsForResource",
    "route53:CreateHostedZone",
    "route53:DeleteHostedZone",
}


def test_no_write_is_allowed_on_any_resource_without_a_condition_unless_aws_allows_no_other() -> None:
    levels = {a: i["access"] for a, i in CATALOGUE.items()}
    for scope in ("nonprod", "prod", "readonly"):
        for statement in statements(built(), scope):
            if statement["Effect"] != "Allow" or statement["Resource"] != "*" or "Condition" in statement:
                continue
            writes = {a for a in statement["Action"] if levels.get(a) not in ("Read", "List")}
            assert writes <= WRITES_ONLY_ON_ANY, (scope, statement["Sid"], writes - WRITES_ONLY_ON_ANY)


def test_every_pass_role_names_the_services_it_may_pass_to_and_deployers_assume_no_role() -> None:
    for scope in ("nonprod", "prod"):
        passing = [s for s in statements(built(), scope) if s["Effect"] == "Allow" and "iam:PassRole" in s["Action"]]
        assert passing and all(s["Condition"]["StringEquals"]["iam:PassedToService"] for s in passing)
        denies = [s for s in statements(built(), scope) if s["Effect"] == "Deny" and "sts:AssumeRole" in s["Action"]]
        assert denies and denies[0]["Resource"] == "*"


def test_the_prod_deployer_reads_no_secret_or_parameter_of_the_environments_it_only_reads() -> None:
    for action in ("secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters"):
        arns = resources_of(built(), "prod", action)
        assert arns or action != "secretsmanager:GetSecretValue"  # provisioning reads its own database secret
        public = f"arn:aws:ssm:{REGION}::parameter/aws/service/*"  # AWS's own (the ECS-optimized AMI)
        assert all("/prod/" in arn or ":prod/" in arn or arn == public for arn in arns), (action, arns)
