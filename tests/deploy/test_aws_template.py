"""The CloudFormation template (deploy/aws/) against the code it deploys: every process's task
definition supplies what the production settings require (the settings' own check decides, run on
exactly the environment the task would get), the Glue tables are what ``lake_ddl`` defines, and the
properties the operations docs promise (beat once, encrypted private buckets, the lake's lifecycle,
least-privilege roles) hold. ``make lint`` runs cfn-lint on the same files."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_json, cfn_yaml
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command

from bnpl.lake import tables
from bnpl.lake.ddl import all_statements

DEPLOY = Path(settings.BASE_DIR) / "deploy" / "aws"
TEMPLATE = DEPLOY / "bnpl.yaml"
LAKE_TABLES = DEPLOY / "lake-tables.json"
REGION = "eu-west-1"
# What an operator passes at deploy time (docs/deploy-aws.md); the other parameters keep their defaults.
PARAMETERS = {
    "ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bnpl:1",
    "DomainName": "pay.example.com",
    "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    "FromEmail": "no-reply@pay.example.com",
    "SmtpHost": "email-smtp.eu-west-1.amazonaws.com",
    "BureauUrl": "https://bureau.example.com/v1",
}
# What the operator puts in the provider secret: values of the right shape for each key.
PROVIDED = {
    "FIELD_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
    "STRIPE_LIVE_SECRET_KEY": lambda: "sk_live_" + secrets.token_hex(24),
    "STRIPE_LIVE_PUBLISHABLE_KEY": lambda: "pk_live_" + secrets.token_hex(24),
    "STRIPE_LIVE_WEBHOOK_SECRET": lambda: "whsec_" + secrets.token_hex(24),
}
CHECK = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.production")  # as manage.py, WSGI and Celery do
import django
django.setup()
from django.conf import settings
from bnpl.payments.checks import live_parts_problems
from bnpl.settings.requirements import production_problems
print(json.dumps(production_problems(lambda name: getattr(settings, name, None)) + live_parts_problems()))
"""


def template() -> dict[str, Any]:
    return dict(cfn_yaml.load(str(TEMPLATE)))


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template()["Resources"].items() if body["Type"] == kind}


class Resolver:
    """Evaluates the intrinsic functions a container's Environment and Secrets use, for the
    parameters above; references to resources become placeholders of the right shape."""

    def __init__(self, document: dict[str, Any], parameters: dict[str, str]) -> None:
        self.document = document
        self.parameters = {
            name: str(parameters.get(name, body.get("Default", ""))) for name, body in document["Parameters"].items()
        }

    def condition(self, name: str) -> bool:
        return bool(self.evaluate(self.document["Conditions"][name]))

    def reference(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::Region":
            return REGION
        if name.startswith("AWS::"):
            return name.removeprefix("AWS::").lower()
        assert name in self.document["Resources"], f"a reference to nothing: {name}"
        return f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{name}" if "Secret" in name else name.lower()

    def attribute(self, name: str) -> str:
        resource, _, attribute = name.partition(".")
        assert resource in self.document["Resources"], f"an attribute of nothing: {name}"
        return "5432" if attribute.endswith("Port") else f"{resource.lower()}.internal.example"

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.reference(argument)
            if function == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda match: self.attribute(match[1]) if "." in match[1] else self.reference(match[1]),
                    text,
                )
            if function == "Fn::If":
                return self.evaluate(argument[1] if self.condition(argument[0]) else argument[2])
            if function == "Fn::Equals":
                return self.evaluate(argument[0]) == self.evaluate(argument[1])
            if function == "Fn::Not":
                return not self.evaluate(argument[0])
            if function == "Condition":
                return self.condition(argument)
            raise AssertionError(f"an intrinsic function the test cannot evaluate: {function}")
        if isinstance(value, bool):
            return str(value).lower()
        return str(value) if isinstance(value, int | float) else value


def secret_value(resolver: Resolver, value_from: Any) -> str:
    """What the task would read from Secrets Manager: the template's own value (with generated
    parts filled in), a generated string, or what the operator puts in the provider secret."""
    reference = value_from.get("Ref") if isinstance(value_from, dict) else None
    if reference is None:  # "${ProviderSecret}:KEY::"
        key = resolver.evaluate(value_from).split(":")[-3]
        return PROVIDED.get(key, lambda: secrets.token_hex(16))()
    properties = resolver.document["Resources"][reference]["Properties"]
    if "GenerateSecretString" in properties:
        return secrets.token_hex(properties["GenerateSecretString"]["PasswordLength"] // 2)
    text = resolver.evaluate(properties["SecretString"])
    return re.sub(r"\{\{resolve:secretsmanager:[^}]+\}\}", lambda _: secrets.token_hex(20), text)


def container_environments(**parameters: str) -> list[tuple[str, dict[str, str]]]:
    document = template()
    resolver = Resolver(document, PARAMETERS | parameters)
    found = []
    for name, task in resources("AWS::ECS::TaskDefinition").items():
        for container in task["Properties"]["ContainerDefinitions"]:
            environment = {item["Name"]: resolver.evaluate(item["Value"]) for item in container.get("Environment", [])}
            for item in map(resolver.evaluate, container.get("Secrets", [])):
                if not isinstance(item, dict):  # an !If whose answer is AWS::NoValue: no such variable
                    continue
                assert item["Name"] not in environment, f"{name}: {item['Name']} is both plain and secret"
                environment[item["Name"]] = secret_value(resolver, item["ValueFrom"])
            found.append((f"{name}/{container['Name']}", environment))
    return found


def test_a_task_for_every_process_from_the_one_image() -> None:
    tasks = resources("AWS::ECS::TaskDefinition")
    containers = [
        (name, container) for name, task in tasks.items() for container in task["Properties"]["ContainerDefinitions"]
    ]
    commands = {name: container["Command"] for name, container in containers}
    assert commands == {
        "WebTask": ["web"],
        "UrgentWorkerTask": ["worker"],
        "BackgroundWorkerTask": ["worker"],
        "BeatTask": ["beat"],
        "MigrateTask": ["migrate"],
    }
    images = {name: json.dumps(container["Image"]) for name, container in containers}
    assert set(images.values()) - {images["MigrateTask"]} == {json.dumps({"Ref": "ImageUri"})}
    # migrate: the same image, or the next release's ahead of the services (MigrateImageUri)
    assert json.loads(images["MigrateTask"]) == {
        "Fn::If": ["MigrateImageAhead", {"Ref": "MigrateImageUri"}, {"Ref": "ImageUri"}]
    }


@pytest.mark.parametrize("process", [name for name, _ in container_environments()])
def test_each_process_gets_everything_the_production_settings_require(process: str, tmp_path: Path) -> None:
    environment = dict(container_environments())[process]
    assert environment.get("DJANGO_SETTINGS_MODULE", "bnpl.settings.production") == "bnpl.settings.production"
    answer = subprocess.run(  # nosec B603  # our own interpreter and script
        [sys.executable, "-c", CHECK],
        cwd=settings.BASE_DIR,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr[-3000:]
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == []


def test_a_read_replica_is_optional_and_given_to_the_web_and_the_workers(tmp_path: Path) -> None:
    without = dict(container_environments())
    with_replica = dict(container_environments(ReadReplica="true"))

    assert [process for process, environment in without.items() if "REPLICA_DATABASE_URL" in environment] == []
    given = {name: env["REPLICA_DATABASE_URL"] for name, env in with_replica.items() if "REPLICA_DATABASE_URL" in env}
    assert sorted(given) == ["BackgroundWorkerTask/worker", "UrgentWorkerTask/worker", "WebTask/web"]
    for url in given.values():
        assert url.startswith("postgres://bnpl:")
        assert url.endswith("@databasereplica.internal.example:5432/bnpl?sslmode=require")
    answer = subprocess.run(  # nosec B603  # our own interpreter and script
        [sys.executable, "-c", CHECK],
        cwd=settings.BASE_DIR,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **with_replica["WebTask/web"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr[-3000:]
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == []


def test_the_check_notices_a_variable_the_template_would_not_supply(tmp_path: Path) -> None:
    environment = dict(container_environments())["WebTask/web"]
    del environment["LAKE_S3_BUCKET"]
    answer = subprocess.run(  # nosec B603  # our own interpreter and script
        [sys.executable, "-c", CHECK],
        cwd=settings.BASE_DIR,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode != 0 and "LAKE_S3_BUCKET: required" in answer.stderr


def test_the_lake_tables_are_what_lake_ddl_generates() -> None:
    rendered = io.StringIO()
    call_command("lake_ddl", "--cloudformation", stdout=rendered)
    assert LAKE_TABLES.read_text() == rendered.getvalue(), "run: manage.py lake_ddl --cloudformation > " + str(
        LAKE_TABLES.relative_to(settings.BASE_DIR)
    )
    glue = dict(cfn_json.load(str(LAKE_TABLES)))["Resources"]
    inputs = [body["Properties"]["TableInput"] for body in glue.values()]
    in_template = {
        table["Name"]: (
            [(column["Name"], column["Type"]) for column in table["StorageDescriptor"]["Columns"]],
            [key["Name"] for key in table["PartitionKeys"]],
        )
        for table in inputs
    }
    statements = all_statements(location="s3://lake", database="bnpl_lake")
    in_ddl = {}
    table = r"CREATE EXTERNAL TABLE IF NOT EXISTS `bnpl_lake`\.`(\w+)` \((.*?)\n\)\n.*?PARTITIONED BY \((.*?)\)"
    for name, body, partitions in re.findall(table, statements, re.S):
        columns = re.findall(r"^\s+`(\w+)`\s+(\S+) COMMENT", body, re.M)
        in_ddl[name] = ([(column, kind.lower()) for column, kind in columns], re.findall(r"`(\w+)`", partitions))
    assert in_template == in_ddl
    assert sorted(in_template) == sorted(spec.name for spec in tables.TABLES)
    stack = template()["Resources"]["LakeTables"]
    assert stack["Properties"]["TemplateURL"] == LAKE_TABLES.name


def test_beat_runs_once_even_during_a_deploy() -> None:
    beat = template()["Resources"]["BeatService"]["Properties"]
    assert beat["DesiredCount"]["Fn::If"][1] == 1
    assert beat["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert beat["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0


def test_buckets_are_encrypted_versioned_private_and_tls_only_and_the_lake_ages_out() -> None:
    document = template()["Resources"]
    buckets = resources("AWS::S3::Bucket")
    assert set(buckets) == {"LakeBucket", "DocumentsBucket", "AthenaResultsBucket"}
    policies = {body["Properties"]["Bucket"]["Ref"]: body for body in resources("AWS::S3::BucketPolicy").values()}
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        (statement,) = policies[name]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (rule,) = document["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [step["StorageClass"] for step in rule["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert rule["ExpirationInDays"] == {"Ref": "LakeRetentionDays"}


def test_only_the_workers_may_write_the_lake_and_put_to_the_event_bus() -> None:
    roles = resources("AWS::IAM::Role")
    text = {name: json.dumps(role) for name, role in roles.items()}
    assert "LakeBucket" in text["WorkerTaskRole"] and "LakeBucket" not in text["WebTaskRole"]
    assert "events:PutEvents" in text["WorkerTaskRole"] and "kinesis:PutRecords" in text["WorkerTaskRole"]
    assert "Policies" not in roles["NoAccessTaskRole"]["Properties"]
    assert '"*"' not in text["WorkerTaskRole"] and '"*"' not in text["WebTaskRole"]
    task_roles = {
        task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0] for task in resources("AWS::ECS::TaskDefinition").values()
    }
    assert task_roles == {"WebTaskRole", "WorkerTaskRole", "NoAccessTaskRole"}
