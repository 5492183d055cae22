"""Deployment files: Bicep under infra/, azure.yaml, the post-provision hook, the workflows.

The Bicep files are parsed with pycep (a Bicep parser from PyPI), since the Bicep compiler
is not available to the tests. The hook runs for real against a stand-in for the Azure CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pycep import BicepParser

from licensing import settings as licensing_settings
from licensing.signing import public_jwk, public_pem, rsa_key_value_xml

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
WORKFLOWS = ROOT / ".github" / "workflows"

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
KEY_VAULT = "Microsoft.KeyVault/vaults"
APP_INSIGHTS = "Microsoft.Insights/components"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"

APP = "appPrincipalId"
DEPLOYER = "deployerPrincipalId"

# role name, built-in role definition id, resource type of the scope, principal parameter,
# and the LICENSING_SIGNING_KEY_KIND under which it is assigned (None: always).
ROLES = [
    ("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", STORAGE_ACCOUNT, APP, None),
    (
        "Storage Queue Data Contributor",
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        STORAGE_ACCOUNT,
        APP,
        None,
    ),
    (
        "Storage Table Data Contributor",
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
        STORAGE_ACCOUNT,
        APP,
        None,
    ),
    ("Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6", KEY_VAULT, APP, "secret"),
    ("Key Vault Crypto User", "12338af0-0e69-4776-bea7-57ae8d297424", KEY_VAULT, APP, "key"),
    (
        "Monitoring Metrics Publisher",
        "3913510d-42f4-4e42-8a64-420c390055eb",
        APP_INSIGHTS,
        APP,
        None,
    ),
    (
        "Key Vault Secrets Officer",
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        KEY_VAULT,
        DEPLOYER,
        "secret",
    ),
    (
        "Key Vault Crypto Officer",
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        KEY_VAULT,
        DEPLOYER,
        "key",
    ),
    (
        "Storage Table Data Contributor",
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
        STORAGE_ACCOUNT,
        DEPLOYER,
        None,
    ),
]

# Words that mark a secret in an output's name, and fragments that mark one in its value.
SECRET_NAME_WORDS = {"secret", "secrets", "password", "credential", "credentials"}
SECRET_NAME_ENDINGS = {"key", "keys"}
SECRET_VALUE_FRAGMENTS = (
    "connectionstring",
    "accountkey",
    "instrumentationkey",
    "listkeys",
    "list_keys",
    "listsecrets",
    "getsecret",
    "get_secret",
    "password",
    "secret",
)


@cache
def bicep_files() -> tuple[Path, ...]:
    return tuple(sorted(INFRA.rglob("*.bicep")))


@cache
def parse(path: Path) -> dict:
    return BicepParser().parse(file_path=path)


@dataclass(frozen=True)
class Resource:
    path: Path
    symbol: str
    type: str
    existing: bool
    config: dict
    condition: dict | None


def resources(path: Path) -> list[Resource]:
    found = []
    for symbol, resource in parse(path).get("resources", {}).items():
        config = resource["config"]
        condition = None
        if "condition" in config:
            # pycep nests the body of a conditional `= if (...) {...}` resource.
            condition = config["condition"]
            config = config["config"]
        found.append(
            Resource(path, symbol, resource["type"], resource["existing"], config, condition)
        )
    return found


def declared(resource_type: str) -> list[Resource]:
    """Resources of this type that the Bicep files create, not `existing` references."""
    return [
        resource
        for path in bicep_files()
        for resource in resources(path)
        if resource.type == resource_type and not resource.existing
    ]


def only(resource_type: str) -> dict:
    found = declared(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0].config


def app_settings() -> dict:
    found = [
        resource.config
        for resource in declared("Microsoft.Web/sites/config")
        if resource.config["name"] == "appsettings"
    ]
    assert len(found) == 1
    return found[0]["properties"]


@dataclass(frozen=True)
class Assignment:
    symbol: str
    role_id: str
    scope_type: str
    principal: str
    condition: str


def role_assignments() -> list[Assignment]:
    found = []
    for path in bicep_files():
        variables = parse(path).get("variables", {})
        by_symbol = {resource.symbol: resource for resource in resources(path)}
        for resource in by_symbol.values():
            if resource.type != ROLE_ASSIGNMENT:
                continue

            properties = resource.config["properties"]
            role = properties["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
            scope = by_symbol[resource.config["scope"]]
            found.append(
                Assignment(
                    resource.symbol,
                    variables.get(role, {}).get("value", role),
                    scope.type,
                    properties["principalId"],
                    json.dumps(resource.condition),
                )
            )
    return found


def key_kinds_in(condition: str) -> set[str]:
    """Values that a condition compares signingKeyKind with."""
    pattern = r'"operand_1": "signingKeyKind", "operand_2": "(\w+)"'
    return set(re.findall(pattern, condition))


def deployed_text() -> str:
    """Every file that describes the deployment, joined."""
    paths = [*INFRA.rglob("*"), ROOT / "azure.yaml", *WORKFLOWS.glob("*.yml")]
    return "\n".join(path.read_text() for path in paths if path.is_file())


def workflow(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    document["on"] = document.pop(True, document.get("on"))
    return document


def run_commands(document: dict) -> list[str]:
    return [
        step["run"] for job in document["jobs"].values() for step in job["steps"] if "run" in step
    ]


def action_inputs(document: dict, action: str) -> dict:
    for job in document["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").lower().startswith(action.lower() + "@"):
                return step.get("with", {})
    raise AssertionError(f"no step uses {action}")


def azure_yaml() -> dict:
    return yaml.safe_load((ROOT / "azure.yaml").read_text())


def hook_path() -> Path:
    return ROOT / azure_yaml()["hooks"]["postprovision"]["run"]


# Bicep


def test_infra_has_main_and_modules():
    names = {path.relative_to(INFRA).as_posix() for path in bicep_files()}
    assert "main.bicep" in names
    assert len(names) > 1


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.name)
def test_bicep_file_parses(path):
    document = parse(path)
    assert document.get("resources") or document.get("modules")


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.name)
def test_every_parameter_has_description(path):
    undescribed = [
        name
        for name, parameter in parse(path).get("parameters", {}).items()
        if not any(
            decorator["type"] == "description" and decorator["argument"]
            for decorator in parameter["decorators"]
        )
    ]
    assert undescribed == []


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.name)
def test_module_calls_match_module_parameters(path):
    for symbol, module in parse(path).get("modules", {}).items():
        target = path.parent / module["detail"]["path"]
        assert target.is_file(), f"{symbol}: {target} does not exist"

        declared_params = parse(target).get("parameters", {})
        passed = set(module["config"].get("params", {}))
        required = {name for name, p in declared_params.items() if p["default"] is None}
        assert passed - set(declared_params) == set(), f"{symbol} passes unknown parameters"
        assert required - passed == set(), f"{symbol} misses required parameters"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.name)
def test_module_outputs_used_exist(path):
    modules = parse(path).get("modules", {})
    for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", path.read_text()):
        assert symbol in modules, f"{symbol} is not a module of {path.name}"
        target = path.parent / modules[symbol]["detail"]["path"]
        assert output in parse(target).get("outputs", {}), f"{symbol}.outputs.{output}"


def test_parameters_file_matches_main_parameters():
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    parameters = parse(MAIN)["parameters"]
    required = {name for name, parameter in parameters.items() if parameter["default"] is None}
    assert set(values) - set(parameters) == set()
    assert required - set(values) == set()


def test_storage_disallows_shared_keys():
    assert only(STORAGE_ACCOUNT)["properties"]["allowSharedKeyAccess"] is False


def test_storage_requires_tls_1_2():
    assert only(STORAGE_ACCOUNT)["properties"]["minimumTlsVersion"] == "TLS1_2"


def test_storage_requires_https():
    assert only(STORAGE_ACCOUNT)["properties"]["supportsHttpsTrafficOnly"] is True


def test_storage_disallows_public_blobs():
    assert only(STORAGE_ACCOUNT)["properties"]["allowBlobPublicAccess"] is False


def test_deployment_container_is_private():
    container = only("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


def test_plan_is_flex_consumption_on_linux():
    plan = only("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True


def test_function_app_runs_python_311_on_linux():
    app = only("Microsoft.Web/sites")
    assert app["kind"] == "functionapp,linux"
    assert app["properties"]["functionAppConfig"]["runtime"] == {
        "name": "python",
        "version": "3.11",
    }


def test_function_app_requires_https():
    assert only("Microsoft.Web/sites")["properties"]["httpsOnly"] is True


def test_function_app_runs_as_user_assigned_identity():
    identity = only("Microsoft.Web/sites")["identity"]
    assert identity["type"] == "UserAssigned"
    assert len(identity["userAssignedIdentities"]) == 1


def test_deployment_storage_uses_identity():
    config = only("Microsoft.Web/sites")["properties"]["functionAppConfig"]
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert "userAssignedIdentityResourceId" in storage["authentication"]
    assert {"maximumInstanceCount", "instanceMemoryMB"} <= set(config["scaleAndConcurrency"])


def test_function_app_allows_no_basic_publishing_credentials():
    policies = declared("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {policy.config["name"] for policy in policies} == {"ftp", "scm"}
    assert all(policy.config["properties"]["allow"] is False for policy in policies)


def test_key_vault_uses_rbac():
    assert only(KEY_VAULT)["properties"]["enableRbacAuthorization"] is True


def test_key_vault_has_soft_delete():
    assert only(KEY_VAULT)["properties"]["enableSoftDelete"] is True


def test_key_vault_has_purge_protection():
    assert only(KEY_VAULT)["properties"]["enablePurgeProtection"] is True


def test_application_insights_disables_local_auth():
    assert only(APP_INSIGHTS)["properties"]["DisableLocalAuth"] is True


def test_log_analytics_disables_local_auth():
    workspace = only("Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["features"]["disableLocalAuth"] is True


# App settings


def test_host_storage_uses_identity():
    names = app_settings()
    assert "AzureWebJobsStorage__accountName" in names
    assert names["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__clientId" in names


def test_host_storage_has_no_connection_string():
    assert "AzureWebJobsStorage" not in app_settings()


def test_sdk_credential_selects_user_assigned_identity():
    assert "AZURE_CLIENT_ID" in app_settings()


def test_telemetry_authenticates_with_identity():
    value = app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert value == "Authorization=AAD;ClientId=${identity.properties.clientId}"


def test_flex_app_omits_runtime_settings():
    # Flex Consumption takes the runtime from functionAppConfig and rejects these.
    names = set(app_settings())
    assert names & {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} == set()
    assert "WEBSITE_RUN_FROM_PACKAGE" not in names


def test_app_settings_cover_every_setting_the_code_reads():
    expected = set(licensing_settings.SETTINGS) - licensing_settings.LOCAL_ONLY
    assert sorted(expected - set(app_settings())) == []


def test_local_only_names_are_settings():
    assert licensing_settings.LOCAL_ONLY <= set(licensing_settings.SETTINGS)


def test_local_only_settings_stay_out_of_azure():
    assert licensing_settings.LOCAL_ONLY & set(app_settings()) == set()


def test_no_account_key_anywhere():
    text = deployed_text().lower()
    assert "accountkey" not in text
    assert "listkeys(" not in text
    assert "defaultendpointsprotocol" not in text


# Role assignments


@pytest.mark.parametrize(
    ("role", "role_id", "scope_type", "principal", "key_kind"),
    ROLES,
    ids=[f"{row[0]} for {row[3]}" for row in ROLES],
)
def test_role_assignment(role, role_id, scope_type, principal, key_kind):
    matching = [a for a in role_assignments() if a.role_id == role_id and a.principal == principal]
    assert len(matching) == 1, f"{role} for {principal}: {len(matching)} assignments"
    assert matching[0].scope_type == scope_type
    assert key_kinds_in(matching[0].condition) == ({key_kind} if key_kind else set())


@pytest.mark.parametrize(("role", "role_id"), {(row[0], row[1]) for row in ROLES})
def test_role_id_labelled_with_role_name(role, role_id):
    lines = [line for path in bicep_files() for line in path.read_text().splitlines()]
    assert any(role_id in line and line.rstrip().endswith(f"// {role}") for line in lines)


def test_no_role_assignment_outside_table():
    allowed = {(row[1], row[3]) for row in ROLES}
    extra = [a.symbol for a in role_assignments() if (a.role_id, a.principal) not in allowed]
    assert extra == []


# Outputs


def test_main_outputs_are_upper_snake_case():
    names = list(parse(MAIN)["outputs"])
    assert names
    assert [name for name in names if not re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", name)] == []


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [word for word in spaced.lower().split("_") if word]


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.name)
def test_outputs_name_no_secret(path):
    for name in parse(path).get("outputs", {}):
        words = _name_words(name)
        assert not SECRET_NAME_WORDS & set(words), name
        assert words[-1] not in SECRET_NAME_ENDINGS, name
        assert "connection_string" not in "_".join(words), name


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.name)
def test_outputs_carry_no_secret(path):
    for name, output in parse(path).get("outputs", {}).items():
        value = json.dumps(output["value"]).lower()
        assert [f for f in SECRET_VALUE_FRAGMENTS if f in value] == [], name


# azure.yaml


def test_azure_yaml_deploys_function_app():
    service = azure_yaml()["services"]["api"]
    assert service == {"project": ".", "language": "python", "host": "function"}


def test_azure_yaml_service_matches_app_tag():
    assert "'azd-service-name': 'api'" in (INFRA / "app" / "api.bicep").read_text()


def test_postprovision_hook_is_executable_bash():
    assert azure_yaml()["hooks"]["postprovision"]["shell"] == "sh"
    path = hook_path()
    assert path.is_file()
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


def test_hooks_point_at_existing_files():
    for name, hook in azure_yaml()["hooks"].items():
        assert (ROOT / hook["run"]).is_file(), name


# Workflows


def test_workflows_parse():
    for path in WORKFLOWS.glob("*.yml"):
        assert workflow(path.name)["jobs"], path.name
    assert {"ci.yml", "deploy.yml"} <= {path.name for path in WORKFLOWS.glob("*.yml")}


def test_ci_runs_on_push_and_pull_request():
    assert set(workflow("ci.yml")["on"]) == {"push", "pull_request"}


def test_ci_sets_up_python_and_node():
    ci = workflow("ci.yml")
    assert action_inputs(ci, "actions/setup-python")["python-version"] == "3.11"
    assert action_inputs(ci, "actions/setup-node")["node-version"] == "20"
    assert all(job["runs-on"] == "ubuntu-latest" for job in ci["jobs"].values())


def test_ci_runs_make_test():
    assert "make test" in run_commands(workflow("ci.yml"))


def test_workflow_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    for name in ("ci.yml", "deploy.yml"):
        for command in run_commands(workflow(name)):
            for target in re.findall(r"\bmake\s+([\w-]+)", command):
                assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_workflow_file_paths_exist():
    pattern = r"(?<![\w/.-])(?:\./)?(?:[\w.-]+/)*[\w-]+\.(?:sh|py|txt|json|ya?ml|bicep)\b"
    for name in ("ci.yml", "deploy.yml"):
        for command in run_commands(workflow(name)):
            for path in re.findall(pattern, command):
                assert (ROOT / path).is_file(), f"{name}: {path}"


def test_deploy_runs_on_version_tags():
    assert workflow("deploy.yml")["on"] == {"push": {"tags": ["v*"]}}


def test_deploy_requests_oidc_token():
    assert workflow("deploy.yml")["permissions"]["id-token"] == "write"


def test_deploy_reads_ids_from_repository_variables():
    env = workflow("deploy.yml")["jobs"]["deploy"]["env"]
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"):
        assert env[name] == f"${{{{ vars.{name} }}}}"


def test_deploy_uses_no_stored_secret():
    assert "secrets." not in (WORKFLOWS / "deploy.yml").read_text()


def test_deploy_signs_in_azd_with_github_federation():
    logins = [c for c in run_commands(workflow("deploy.yml")) if "azd auth login" in c]
    assert len(logins) == 1
    assert "--federated-credential-provider github" in logins[0]


def test_deploy_provisions_and_deploys():
    commands = run_commands(workflow("deploy.yml"))
    assert "azd provision --no-prompt" in commands
    assert "azd deploy --no-prompt" in commands


def test_deploy_names_the_azd_hook():
    hook = azure_yaml()["hooks"]["postprovision"]["run"].removeprefix("./")
    assert hook in (WORKFLOWS / "deploy.yml").read_text()
    assert (ROOT / hook).is_file()


# The post-provision hook, run against a stand-in for the Azure CLI

FAKE_AZ = """\
#!{python}
# Stand-in for the Azure CLI: a Key Vault with one secret or key, kept in $FAKE_VAULT.
import json, os, sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

vault = Path(os.environ["FAKE_VAULT"])
args = sys.argv[1:]
with open(vault / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\\n")

def option(name):
    return args[args.index(name) + 1]

kind, action = args[1], args[2]
stored = vault / f"{{kind}}-{{option('--name')}}.pem"
if action == "show":
    if stored.exists():
        print("https://vault/" + kind)
        sys.exit(0)
    missing = "SecretNotFound" if kind == "secret" else "KeyNotFound"
    sys.exit(f"ERROR: ({{missing}}) A {{kind}} was not found in this key vault.")
if action == "set":
    if os.environ.get("FAKE_DELETED"):
        sys.exit("ERROR: (Conflict) Secret is currently in a deleted but recoverable state."
                 "\\nInner error: {{'code': 'ObjectIsDeletedButRecoverable'}}")
    stored.write_bytes(Path(option("--file")).read_bytes())
    sys.exit(0)
if action == "create":
    key = rsa.generate_private_key(public_exponent=65537, key_size=int(option("--size")))
    stored.write_bytes(key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    sys.exit(0)
if action == "download":
    target = Path(option("--file"))
    if target.exists():
        sys.exit("ERROR: file already exists")
    pem = stored.read_bytes()
    if kind == "key":
        private = serialization.load_pem_private_key(pem, password=None)
        pem = private.public_key().public_bytes(serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
    target.write_bytes(pem)
    sys.exit(0)
sys.exit(f"fake az: unexpected arguments {{args}}")
"""


@pytest.fixture
def fake_vault(tmp_path):
    vault = tmp_path / "vault"
    bin_dir = tmp_path / "bin"
    scratch = tmp_path / "scratch"
    for folder in (vault, bin_dir, scratch):
        folder.mkdir()

    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable))
    az.chmod(0o755)

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LICENSING_", "AZURE_"))
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        TMPDIR=str(scratch),
        FAKE_VAULT=str(vault),
        AZURE_KEY_VAULT_NAME="kv-test",
        LICENSING_SIGNING_KEY_NAME="licensing-signing-key",
    )
    return vault, scratch, env


def run_hook(env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(hook_path())], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def az_calls(vault: Path) -> list[list[str]]:
    log = vault / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def stored_key(vault: Path, kind: str) -> rsa.RSAPrivateKey:
    pem = (vault / f"{kind}-licensing-signing-key.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def assert_prints_public_key(output: str, key: rsa.RSAPrivateKey) -> None:
    public = key.public_key()
    assert public_pem(public).strip() in output
    assert json.dumps(public_jwk(public)) in output
    assert rsa_key_value_xml(public) in output


def test_hook_creates_missing_signing_secret(fake_vault, tmp_path):
    vault, scratch, env = fake_vault

    result = run_hook(env, tmp_path)

    assert result.returncode == 0, result.stderr
    key = stored_key(vault, "secret")
    assert key.key_size == 3072
    assert_prints_public_key(result.stdout, key)
    assert "PRIVATE KEY" not in result.stdout
    assert list(scratch.iterdir()) == []


def test_hook_stores_secret_as_pem(fake_vault, tmp_path):
    vault, _, env = fake_vault

    run_hook(env, tmp_path)

    sets = [call for call in az_calls(vault) if call[:3] == ["keyvault", "secret", "set"]]
    assert len(sets) == 1
    assert sets[0][sets[0].index("--content-type") + 1] == "application/x-pem-file"


def test_hook_keeps_existing_signing_secret(fake_vault, tmp_path):
    vault, scratch, env = fake_vault
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (vault / "secret-licensing-signing-key.pem").write_bytes(pem)

    result = run_hook(env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert (vault / "secret-licensing-signing-key.pem").read_bytes() == pem
    assert [call for call in az_calls(vault) if call[2] == "set"] == []
    assert_prints_public_key(result.stdout, key)
    assert list(scratch.iterdir()) == []


def test_hook_creates_vault_key_for_key_kind(fake_vault, tmp_path):
    vault, _, env = fake_vault
    env["LICENSING_SIGNING_KEY_KIND"] = "key"

    result = run_hook(env, tmp_path)

    assert result.returncode == 0, result.stderr
    creates = [call for call in az_calls(vault) if call[:3] == ["keyvault", "key", "create"]]
    assert len(creates) == 1
    assert creates[0][creates[0].index("--size") + 1] == "3072"
    assert [call for call in az_calls(vault) if call[1] == "secret"] == []
    assert_prints_public_key(result.stdout, stored_key(vault, "key"))


def test_hook_explains_deleted_secret(fake_vault, tmp_path):
    vault, scratch, env = fake_vault
    env["FAKE_DELETED"] = "1"

    result = run_hook(env, tmp_path)

    assert result.returncode != 0
    expected = "az keyvault secret recover --vault-name kv-test --name licensing-signing-key"
    assert expected in result.stderr
    assert list(scratch.iterdir()) == []


def test_hook_requires_vault_name(fake_vault, tmp_path):
    _, _, env = fake_vault
    del env["AZURE_KEY_VAULT_NAME"]

    result = run_hook(env, tmp_path)

    assert result.returncode != 0
    assert "AZURE_KEY_VAULT_NAME" in result.stderr


# Documentation


def test_readme_deploy_section_points_to_infra_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploy", 1)[1].split("\n## ", 1)[0]
    assert "infra/README.md" in section
    assert (INFRA / "README.md").is_file()


def test_infra_readme_covers_tear_down():
    guide = (INFRA / "README.md").read_text()
    assert "azd down --purge" in guide
    assert "purge protection" in guide.lower()
