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
        "database": f"{env}-{app}-db",
        "dashboard": f"{env}-{app}",
        "lock_table": f"{env}-{app}-deploy-locks",
        "records_table": f"{env}-{app}-deployments",
        "snapshot_policy_parameter": f"/stageflow/{env}/{app}/snapshot-policy",
        "alarm_prefix": f"{env}-{app}",
    }


def boundary_of(env: str) -> str:
    return f"stageflow-{'prod' if env == 'prod' else 'nonprod'}-workload-boundary"


ENVIRONMENTS = {
    e: {
        "app_name": "movie-app",
        "resource_names": resource_names(e),
        "permissions_boundary_name": boundary_of(e),
        "repositories": [f"{e}-movie-app-server-repo", f"{e}-movie-app-client-repo"],
    }
    for e in ("dev", "staging", "prod", "feature-*")
}
# The inventory's domain_name of each (group_vars/<env>.yml; feature-*: feature_domain_name with that name).
DOMAINS = {
    "dev": "dev.movie-app.internal",
    "staging": "staging.movie-app.com",
    "prod": "movie-app.com",
    "feature-*": "feature-*.dev.movie-app.internal",
}
for _env, _values in ENVIRONMENTS.items():
    _values["domain_name"] = DOMAINS[_env]
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


def built(scopes=None, environments=None) -> dict:
    scopes = SCOPES if scopes is None else scopes
    environments = ENVIRONMENTS if environments is None else environments
    return access.access_policies(environments, scopes, CATALOGUE, ACCOUNT, REGION, "aws", "stageflow-")


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


# A create's own statement names only what it creates (with the request's tag); the existing resources it acts on (a
# subnet's VPC) are in ActOnlyOnResourcesTaggedWithTheEnvironment, on * (test_resources_named_by_id_need_the_tag...).
def elsewhere(finding) -> bool:
    return finding.issue == "RESOURCE_MISMATCH" and all(
        any(kind in d["required_format"] for kind in NOT_STAGEFLOWS) or d["action"] in ap.CREATES
        for d in finding.detail
    )


def test_every_policy_fits_a_managed_policy_and_passes_parliament() -> None:
    result = built()
    for policy in [*result["policies"], *result["boundaries"]]:
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


def test_a_service_runs_only_its_scopes_task_definitions() -> None:
    for scope, family in (("nonprod", "dev-movie-app-task"), ("prod", "prod-movie-app-task")):
        pinned = next(s for s in statements(built(), scope) if s["Sid"] == "ServicesRunOnlyTheScopesTaskDefinitions")
        assert {"ecs:CreateService", "ecs:UpdateService"} <= set(pinned["Action"])
        families = pinned["Condition"]["ArnLikeIfExists"]["ecs:task-definition"]
        assert f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:*" in families
        assert all(("prod-" in f) == (scope == "prod") for f in families), families
        others = [s for s in statements(built(), scope) if s["Sid"] != pinned["Sid"]]
        assert not any("ecs:UpdateService" in s["Action"] for s in others if s["Effect"] == "Allow")


def test_the_prod_deployer_reads_of_dev_only_its_images() -> None:
    dev = [arn for s in statements(built(), "prod") for arn in s["Resource"] if ":dev-" in arn or "/dev-" in arn]
    assert dev and all(":repository/dev-movie-app-" in arn for arn in dev), dev
    writes = resources_of(built(), "nonprod", "ssm:PutParameter")
    assert writes and not any("parameter/aws/service" in arn for arn in writes)


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
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/stageflow-nonprod-workload-boundary"
    assert create["Condition"] == {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    attach = by_sid["AttachOnlyTheWorkloadsManagedPolicies"]
    assert attach["Condition"]["ArnEquals"]["iam:PolicyARN"] == sorted(WORKLOAD)
    assert by_sid["PassOnlyTheEnvironmentsRolesToTheWorkload"]["Condition"]["StringEquals"]["iam:PassedToService"]


def test_each_deployer_scope_has_a_boundary_of_its_own_reaching_only_its_environments() -> None:
    result = built()
    boundaries = {b["scope"]: b for b in result["boundaries"]}
    assert sorted(boundaries) == ["nonprod", "prod"]
    assert boundaries["prod"]["name"] == "stageflow-prod-workload-boundary"
    nonprod = json.dumps(boundaries["nonprod"]["document"])
    prod = json.dumps(boundaries["prod"]["document"])
    # The nonprod boundary: dev's, staging's and feature environments' secrets, clusters and logs; nothing of prod's.
    assert "secret:stageflow/dev/movie-app/*" in nonprod and "secret:stageflow/feature-*/movie-app/*" in nonprod
    assert "prod" not in nonprod.replace("nonprod", "")
    # Prod's: its own, and the images of dev's repositories it runs (pulled, never its secrets or logs).
    assert "secret:stageflow/prod/movie-app/*" in prod and "cluster/prod-movie-app-cluster" in prod
    assert "repository/dev-movie-app-server-repo" in prod
    assert "stageflow/dev/" not in prod and "stageflow/staging/" not in prod and "dev-movie-app-cluster" not in prod
    for boundary in boundaries.values():
        allows = [s for s in boundary["document"]["Statement"] if s["Effect"] == "Allow"]
        assert all(s["Resource"] != "*" for s in allows if "secretsmanager:GetSecretValue" in s["Action"])
    # Each deployer creates roles only with its own.
    create = {
        scope: next(s for s in statements(result, scope) if s["Sid"] == "CreateTheEnvironmentsRolesOnlyWithTheBoundary")
        for scope in ("nonprod", "prod")
    }
    for scope, statement in create.items():
        assert statement["Condition"]["ArnEquals"]["iam:PermissionsBoundary"] == boundaries[scope]["arn"]


def test_provisioning_builds_the_same_boundaries_without_the_catalogue() -> None:
    assert access.access_boundaries(ENVIRONMENTS, SCOPES, ACCOUNT, REGION) == built()["boundaries"]


def test_an_environment_gets_only_the_boundary_of_the_scope_it_belongs_to() -> None:
    def names(env: str) -> list[str]:
        return [b["name"] for b in access.access_boundaries(ENVIRONMENTS, SCOPES, ACCOUNT, REGION, environment=env)]

    assert names("feature-abc") == names("dev") == ["stageflow-nonprod-workload-boundary"]
    assert names("prod") == ["stageflow-prod-workload-boundary"]
    # An environment in no scope (not in promotion_order): no boundary allows its clusters, so provisioning refuses.
    assert names("qa") == []


def test_scopes_sharing_a_boundary_or_a_scope_naming_two_are_refused() -> None:
    shared = {e: {**v, "permissions_boundary_name": "stageflow-workload-boundary"} for e, v in ENVIRONMENTS.items()}
    with pytest.raises(AnsibleFilterError, match="nonprod, prod share the permissions boundary stageflow-workload"):
        built(environments=shared)
    mixed = {**ENVIRONMENTS, "staging": {**ENVIRONMENTS["staging"], "permissions_boundary_name": "other"}}
    with pytest.raises(AnsibleFilterError, match="nonprod: its environments must name one permissions_boundary_name"):
        built(environments=mixed)


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
# with no condition key (Route 53's zones: docs/security.md says why each is safe enough). Any other write on "*" must
# have a condition (Route 53's record changes: the record names).
WRITES_ONLY_ON_ANY = {
    "acm:RequestCertificate",
    "ecs:DeregisterTaskDefinition",
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


def record_statements(result: dict, scope: str) -> list[dict]:
    return [s for s in statements(result, scope) if "route53:ChangeResourceRecordSets" in s["Action"]]


def test_each_deployer_changes_only_the_dns_records_of_its_own_domains() -> None:
    key = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    result = built()
    (nonprod,) = record_statements(result, "nonprod")
    assert (nonprod["Effect"], nonprod["Action"], nonprod["Resource"]) == (
        "Allow",
        ["route53:ChangeResourceRecordSets"],
        "arn:aws:route53:::hostedzone/*",
    )
    assert nonprod["Condition"] == {
        "ForAllValues:StringLike": {
            key: [
                "*.dev.movie-app.internal",
                "*.feature-*.dev.movie-app.internal",
                "*.staging.movie-app.com",
                "dev.movie-app.internal",
                "feature-*.dev.movie-app.internal",
                "staging.movie-app.com",
            ]
        },
        "Null": {key: "false"},
    }
    on_any = [s for s in statements(result, "nonprod") if s["Resource"] == "*"]
    assert all("route53:ChangeResourceRecordSets" not in s["Action"] for s in on_any)
    allow, deny = record_statements(result, "prod")
    assert allow["Condition"]["ForAllValues:StringLike"] == {key: ["*.movie-app.com", "movie-app.com"]}
    # prod's *.movie-app.com covers staging.movie-app.com: staging's names are denied to it.
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"ForAnyValue:StringLike": {key: ["*.staging.movie-app.com", "staging.movie-app.com"]}},
    )
    assert record_statements(result, "readonly") == []


def test_the_record_name_condition_lets_each_deployer_write_only_its_own_names() -> None:
    """The statements, evaluated as AWS evaluates them (the local cloud's evaluator), on normalized record names."""
    from localcloud.iam_policy import Decision, evaluate

    result = built()

    def decision(scope: str, *names: str) -> Decision:
        document = {"Version": "2012-10-17", "Statement": record_statements(result, scope)}
        context = {"route53:changeresourcerecordsetsnormalizedrecordnames": list(names)} if names else {}
        return evaluate([document], "route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1", context)

    for name in ("dev.movie-app.internal", "_a1b2.staging.movie-app.com", "feature-x.dev.movie-app.internal"):
        assert decision("nonprod", name) is Decision.ALLOW, name
    for name in ("movie-app.com", "www.movie-app.com", "_a1b2.movie-app.com", "evil-staging.movie-app.com"):
        assert decision("nonprod", name) is Decision.IMPLICIT_DENY, name
    assert decision("nonprod", "dev.movie-app.internal", "movie-app.com") is Decision.IMPLICIT_DENY  # ForAllValues
    for name in ("movie-app.com", "www.movie-app.com", "_a1b2.movie-app.com"):
        assert decision("prod", name) is Decision.ALLOW, name
    for name in ("staging.movie-app.com", "www.staging.movie-app.com", "dev.movie-app.internal"):
        assert decision("prod", name) is not Decision.ALLOW, name
    assert decision("prod", "movie-app.com", "staging.movie-app.com") is Decision.EXPLICIT_DENY
    assert decision("nonprod") is Decision.IMPLICIT_DENY  # the key missing: Null refuses what ForAllValues allows


def test_a_deployer_environment_without_a_domain_or_sharing_one_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="staging: no domain_name"):
        built(environments={**ENVIRONMENTS, "staging": {**ENVIRONMENTS["staging"], "domain_name": ""}})
    with pytest.raises(AnsibleFilterError, match=r"prod and staging \(movie-app.com\) share a domain_name"):
        built(environments={**ENVIRONMENTS, "staging": {**ENVIRONMENTS["staging"], "domain_name": "Movie-App.com."}})


def test_resources_named_by_id_need_the_tag_on_create_and_on_use() -> None:
    """EC2's (and Backup plans', ACM certificates') statements, evaluated as AWS evaluates them (the local cloud's
    evaluator): a create needs the request's Environment tag, any other use the resource's, without IfExists."""
    from localcloud.iam_policy import Decision, evaluate

    documents = [p["document"] for p in built()["policies"] if p["scope"] == "nonprod"]
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"

    def decision(action: str, arn: str, resource_env: str = "", request_env: str = "", create: str = "") -> Decision:
        context = {"aws:resourcetag/environment": [resource_env]} if resource_env else {}
        if request_env:
            context["aws:requesttag/environment"] = [request_env]
        if create:
            context["ec2:createaction"] = [create]
        return evaluate(documents, action, arn, context)

    allowed = [
        ("ec2:CreateVpc", f"{ec2}:vpc/*", "", "dev", ""),
        ("ec2:CreateVpc", f"{ec2}:vpc/*", "", "feature-x", ""),
        ("ec2:CreateSubnet", f"{ec2}:subnet/*", "", "staging", ""),
        ("ec2:CreateSubnet", f"{ec2}:vpc/vpc-1", "staging", "staging", ""),  # in its environment's VPC
        ("ec2:CreateTags", f"{ec2}:vpc/*", "", "dev", "CreateVpc"),  # tagging on create
        ("ec2:CreateTags", f"{ec2}:vpc/vpc-1", "dev", "", ""),  # a Name tag on its own VPC
        ("ec2:DeleteSecurityGroup", f"{ec2}:security-group/sg-1", "dev", "", ""),
        ("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-1", "", "dev", ""),  # AWS's AMI, untagged
        ("ec2:RunInstances", f"{ec2}:instance/*", "", "dev", ""),
        ("ec2:RunInstances", f"{ec2}:subnet/subnet-1", "dev", "dev", ""),
        ("ec2:CreateSnapshot", f"arn:aws:ec2:{REGION}::snapshot/*", "", "dev", ""),
        ("backup:GetBackupPlan", f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:p1", "dev", "", ""),
        ("acm:RequestCertificate", "*", "", "dev", ""),
    ]
    refused = [
        ("ec2:CreateVpc", f"{ec2}:vpc/*", "", "", ""),  # untagged
        ("ec2:CreateVpc", f"{ec2}:vpc/*", "", "prod", ""),
        ("ec2:CreateSecurityGroup", f"{ec2}:security-group/*", "", "", ""),
        ("ec2:CreateSubnet", f"{ec2}:vpc/vpc-1", "", "dev", ""),  # in an untagged VPC (the default VPC's)
        ("ec2:CreateSubnet", f"{ec2}:vpc/vpc-1", "prod", "dev", ""),  # in prod's VPC
        ("ec2:CreateTags", f"{ec2}:vpc/vpc-1", "", "dev", ""),  # adopting an untagged VPC
        ("ec2:CreateTags", f"{ec2}:vpc/vpc-1", "dev", "prod", ""),  # moving its own VPC to prod
        ("ec2:CreateTags", f"{ec2}:vpc/vpc-1", "prod", "dev", "CreateVpc"),
        ("ec2:DeleteSecurityGroup", f"{ec2}:security-group/sg-1", "", "", ""),  # a VPC's default group
        ("ec2:DeleteSecurityGroup", f"{ec2}:security-group/sg-1", "prod", "", ""),
        ("ec2:RunInstances", f"{ec2}:instance/*", "", "", ""),  # an untagged launch
        ("ec2:RunInstances", f"{ec2}:image/ami-1", "", "dev", ""),  # an account's own AMI: not AWS's
        ("ec2:AuthorizeSecurityGroupIngress", f"{ec2}:security-group/sg-1", "", "", ""),
        ("backup:CreateBackupPlan", f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:*", "", "", ""),
        ("acm:RequestCertificate", "*", "", "", ""),
    ]
    for case in allowed:
        assert decision(*case) is Decision.ALLOW, case
    for case in refused:
        assert decision(*case) is not Decision.ALLOW, case
    # No IfExists lets an untagged resource pass, but on the scalable targets (registered untagged, docs/security.md):
    # a request's tag is tested IfExists only beside the resource's, tested without.
    for scope in ("nonprod", "prod"):
        for statement in statements(built(), scope):
            condition = statement.get("Condition", {})
            if statement["Sid"] == "ServicesRunOnlyTheScopesTaskDefinitions":
                continue  # ARN-scoped services; the key is absent when a request changes no task definition
            if any("IfExists" in operator for operator in condition):
                assert set(statement["Action"]) <= set(ap.UNTAGGED_AFTER_CREATE) or condition["StringLike"] == {
                    "aws:ResourceTag/Environment": ["prod"] if scope == "prod" else ["dev", "feature-*", "staging"]
                }, statement["Sid"]


def test_what_each_action_creates_and_the_arns_of_resources_named_by_id_follow_the_reference() -> None:
    from localcloud.resources import _TEMPLATE_VARIABLE, reference

    services = reference()
    for action, kinds in ap.CREATES.items():
        prefix, name = action.split(":", 1)
        listed = dict(services[prefix].actions[name])
        assert set(kinds) <= set(listed), action
        if prefix == "ec2":  # the reference lists aws:RequestTag per resource type for EC2 only
            assert set(kinds) == services[prefix].creates[name], action
    creating = {
        a
        for a, i in CATALOGUE.items()
        if a.startswith("ec2:") and i["access"] == "Write" and services["ec2"].creates[a.split(":", 1)[1]]
    }
    assert creating <= set(ap.CREATES), creating - set(ap.CREATES)
    for action, kinds in [*ap.CREATES.items(), *ap.AWS_OWNED.items()]:
        prefix = action.split(":", 1)[0]
        for kind in kinds:
            template = _TEMPLATE_VARIABLE.sub("*", services[prefix].templates[kind])
            expected = template.replace("arn:*:", "arn:aws:", 1).replace(":*:", f":{REGION}:", 1)
            expected = expected.replace(":*:", f":{ACCOUNT}:", 1) if f"{REGION}::" not in expected else expected
            assert ap._id_arn(action, kind, ACCOUNT, REGION, "aws") == expected, (action, kind)


def test_the_workload_roles_may_do_their_work_in_their_scope_only() -> None:
    """Each boundary evaluated as AWS evaluates it (the local cloud's evaluator), on what an ECS agent on a container
    instance and a task's execution role call: allowed in the scope's environments, refused in the other scope's."""
    from localcloud.iam_policy import Decision, evaluate

    boundaries = {b["scope"]: [b["document"]] for b in built()["boundaries"]}
    base = f"{REGION}:{ACCOUNT}"

    def work(env: str) -> list[tuple[str, str]]:
        cluster = f"{env}-movie-app-cluster"
        return [
            ("ecs:RegisterContainerInstance", f"arn:aws:ecs:{base}:cluster/{cluster}"),
            ("ecs:Poll", f"arn:aws:ecs:{base}:container-instance/{cluster}/0123"),
            ("ecs:SubmitTaskStateChange", f"arn:aws:ecs:{base}:cluster/{cluster}"),
            ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{base}:secret:stageflow/{env}/movie-app/db-x1"),
            ("logs:CreateLogStream", f"arn:aws:logs:{base}:log-group:/stageflow/{env}/movie-app:log-stream:s"),
            ("logs:PutLogEvents", f"arn:aws:logs:{base}:log-group:/stageflow/{env}/movie-app:log-stream:s"),
            ("ecr:BatchGetImage", f"arn:aws:ecr:{base}:repository/{env}-movie-app-server-repo"),
        ]

    for scope, own, other in (("nonprod", ("dev", "staging", "feature-x1"), "prod"), ("prod", ("prod",), "staging")):
        for env in own:
            for action, resource in work(env):
                assert evaluate(boundaries[scope], action, resource, {}) is Decision.ALLOW, (scope, action, resource)
        for action, resource in work(other):
            assert evaluate(boundaries[scope], action, resource, {}) is not Decision.ALLOW, (scope, action, resource)
    # Prod's instances pull the images its releases run, from dev's repositories, and nothing else of dev's.
    dev = dict(work("dev"))
    assert evaluate(boundaries["prod"], "ecr:BatchGetImage", dev["ecr:BatchGetImage"], {}) is Decision.ALLOW
    secret = dev["secretsmanager:GetSecretValue"]
    assert evaluate(boundaries["prod"], "secretsmanager:GetSecretValue", secret, {}) is not Decision.ALLOW
    assert (
        evaluate(boundaries["nonprod"], "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/x", {}) is Decision.EXPLICIT_DENY
    )

    # AWS Backup's role: snapshots of the scope's databases and volumes into its vaults, and expires only its own.
    def backups(env: str) -> list[tuple[str, str, dict]]:
        tagged = {"aws:resourcetag/environment": [env]}  # condition keys as the evaluator takes them
        return [
            ("rds:CreateDBSnapshot", f"arn:aws:rds:{base}:db:{env}-movie-app-db", {}),
            ("ec2:CreateSnapshot", f"arn:aws:ec2:{base}:volume/vol-0123", tagged),
            ("ec2:DeleteSnapshot", f"arn:aws:ec2:{REGION}::snapshot/snap-0123", tagged),
            ("rds:DeleteDBSnapshot", f"arn:aws:rds:{base}:snapshot:awsbackup:job-0123", tagged),
            ("backup:CopyIntoBackupVault", f"arn:aws:backup:{base}:backup-vault:{env}-movie-app", {}),
        ]

    for scope, own, other in (("nonprod", ("dev", "staging", "feature-x1"), "prod"), ("prod", ("prod",), "staging")):
        for env in own:
            for action, resource, context in backups(env):
                assert evaluate(boundaries[scope], action, resource, context) is Decision.ALLOW, (scope, action)
        for action, resource, context in backups(other):
            assert evaluate(boundaries[scope], action, resource, context) is not Decision.ALLOW, (scope, action)
    new_snapshot = f"arn:aws:ec2:{REGION}::snapshot/snap-new"
    assert evaluate(boundaries["prod"], "ec2:CreateSnapshot", new_snapshot, {}) is Decision.ALLOW
    # Tags go on a snapshot as it is taken, or on the scope's own: another scope's cannot be re-tagged as this
    # scope's and then expired.
    taking = {"ec2:createaction": ["CreateSnapshot"]}
    assert evaluate(boundaries["nonprod"], "ec2:CreateTags", new_snapshot, taking) is Decision.ALLOW
    prods = {"aws:resourcetag/environment": ["prod"]}
    assert evaluate(boundaries["nonprod"], "ec2:CreateTags", new_snapshot, prods) is not Decision.ALLOW
    backup_snapshot = f"arn:aws:rds:{base}:snapshot:awsbackup:job-0123"
    assert evaluate(boundaries["nonprod"], "rds:AddTagsToResource", backup_snapshot, {}) is Decision.ALLOW
    assert evaluate(boundaries["nonprod"], "rds:AddTagsToResource", backup_snapshot, prods) is not Decision.ALLOW
    assert evaluate(
        boundaries["prod"], "rds:CreateDBSnapshot", f"arn:aws:rds:{base}:db:prod-movie-app-dbx", {}
    ) is not (Decision.ALLOW), "another database whose name begins with prod's"


def test_an_environment_without_repositories_is_refused_rather_than_losing_the_deny() -> None:
    with pytest.raises(ap.AccessError, match="no ECR repositories given"):
        ap.names_of("dev", "movie-app", resource_names("dev"), "dev.movie-app.internal", [])


def test_other_services_target_groups_are_named_by_pattern_so_the_policy_does_not_grow_with_them() -> None:
    repos = ["dev-shop-api-repo"]
    defaults = ["dev-app-blue", "dev-app-green"]
    alone = ap.names_of("dev", "shop", resource_names("dev"), "dev.shop.internal", repos, defaults)
    assert alone["target_groups"] == ["dev-app-blue", "dev-app-green"]
    groups = ["dev-app-blue", "dev-app-green"] + [f"dev-s{i:02d}-{c}" for i in range(1, 10) for c in ("blue", "green")]
    many = ap.names_of("dev", "shop", resource_names("dev"), "dev.shop.internal", repos, groups)
    assert many["target_groups"] == ["dev-app-blue", "dev-app-green", "dev-*-blue", "dev-*-green"]


def test_many_repositories_are_named_by_pattern() -> None:
    few = [f"dev-shop-c{i}-repo" for i in range(4)]
    assert ap.names_of("dev", "shop", resource_names("dev"), "dev.shop.internal", few)["repositories"] == few
    many = [f"dev-shop-c{i}-repo" for i in range(5)]
    assert ap.names_of("dev", "shop", resource_names("dev"), "dev.shop.internal", many)["repositories"] == [
        "dev-shop-*-repo"
    ]
