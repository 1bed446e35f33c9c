"""deploy/dagster.yaml against Dagster's own config schema (the instance, then each class it
names, the Kubernetes run launcher included, with its `env:` values resolved), and
deploy/helm/values.yaml against the Helm chart's documented keys and against deploy/dagster.yaml,
so that the two descriptions of the production instance cannot drift apart. No cluster needed.

The chart's values.schema.json is not vendored (it is another project's file): SCHEMA below
states, from the chart's documented keys (its pydantic schema models, dagster-io/dagster
helm/dagster/schema), the part of it these values rely on, closed where the chart's is closed,
so a misspelt key fails here as `helm lint` would fail it there.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData

from campaign_pipelines_tests.templates import ROOT

DEPLOY = ROOT / "deploy"
LOCAL_INSTANCE = ROOT / "dagster.yaml"
POD_ENV = {  # what the pod spec gives the daemon and the webserver (deploy/dagster.yaml's table)
    "DAGSTER_PG_HOST": "postgres.example.internal", "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password", "DAGSTER_HOME": "/opt/dagster/dagster_home",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "dagster-instance",
    "DAGSTER_K8S_JOB_NAMESPACE": "campaigns",
    "DAGSTER_K8S_RUN_IMAGE": "registry.example.com/campaign-pipelines:0.1.0",
}


def _deployed() -> dict:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))


def _helm() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))


def _instance_config(tmp_path: Path, config: dict) -> dict:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return dict(dagster_instance_config(str(tmp_path))[0])


@pytest.fixture
def pod_env(monkeypatch):
    for name, value in POD_ENV.items():
        monkeypatch.setenv(name, value)


def test_the_whole_deploy_instance_validates_against_dagsters_schema(tmp_path, pod_env):
    from dagster_k8s import K8sRunLauncher  # here: the Kubernetes client is 0.7 s of import

    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config = dict(dagster_instance_config(str(tmp_path))[0])

    assert set(config["storage"]) == {"postgres"}
    for section in ("run_coordinator", "run_launcher", "compute_logs"):
        named = config[section]
        # As the instance loads it (dagster.core.x names dagster._core.x).
        data = ConfigurableClassData(named["module"], named["class"],
                                     yaml.safe_dump(named.get("config") or {}))
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        processed = process_config(klass.config_type(), named.get("config") or {})
        assert processed.success, (section, processed.errors)
        if section != "run_launcher":  # the launcher alone needs a cluster to be made
            assert isinstance(data.rehydrate(), klass)
    processed = process_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
    assert processed.value["job_image"] == POD_ENV["DAGSTER_K8S_RUN_IMAGE"]
    assert processed.value["postgres_password_secret"] == "dagster-postgresql-secret"


def test_a_misspelt_or_misplaced_key_is_refused(tmp_path):
    """The validation above can fail: Dagster refuses what a typo would make."""
    from dagster_k8s import K8sRunLauncher

    config = _deployed()
    config["run_monitoring"]["max_runtime_second"] = 7200
    with pytest.raises(DagsterInvalidConfigError, match="max_runtime_second"):
        _instance_config(tmp_path, config)
    config = _deployed()
    config["run_queue"] = {"dequeue_interval_seconds": 1}  # beside run_coordinator: refused
    with pytest.raises(DagsterInvalidConfigError, match="run_queue"):
        _instance_config(tmp_path, config)
    launcher = _deployed()["run_launcher"]["config"]
    launcher["env_secret"] = launcher.pop("env_secrets")
    assert not process_config(K8sRunLauncher.config_type(), launcher).success


def test_the_run_pods_resources_and_security_are_valid_kubernetes_objects():
    """Dagster passes these through as free-form maps; the Kubernetes models are strict."""
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
    from kubernetes.client import V1ResourceRequirements, V1SecurityContext

    launcher = _deployed()["run_launcher"]["config"]
    for model, value in ((V1ResourceRequirements, launcher["resources"]),
                         (V1SecurityContext, launcher["security_context"])):
        k8s_model_from_dict(model, k8s_snake_case_dict(model, value))  # as dagster-k8s does
    with pytest.raises(Exception, match="Unexpected keys"):
        k8s_snake_case_dict(V1SecurityContext, {"runAsNonroot": True})


def test_the_deploy_instance_keeps_the_local_instances_rules():
    local, deployed = yaml.safe_load(LOCAL_INSTANCE.read_text(encoding="utf-8")), _deployed()
    assert deployed["concurrency"] == local["concurrency"]
    assert deployed["run_retries"] == local["run_retries"]
    assert deployed["python_logs"] == local["python_logs"]
    assert (deployed["run_coordinator"]["config"]["dequeue_interval_seconds"]
            == local["run_queue"]["dequeue_interval_seconds"])
    for key in ("max_runtime_seconds", "free_slots_after_run_end_seconds", "enabled"):
        assert deployed["run_monitoring"][key] == local["run_monitoring"][key], key


def _closed(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_NAMES = {"type": "array", "items": _closed({"name": {"type": "string"},
                                             "optional": {"type": "boolean"}}, ("name",))}
_OBJECT, _INT, _STR, _BOOL = ({"type": "object"}, {"type": "integer"}, {"type": "string"},
                              {"type": "boolean"})
_TAG_LIMITS = {"type": "array", "items": _closed(
    {"key": _STR, "value": {"type": ["string", "object"]}, "limit": _INT}, ("key", "limit"))}
# The chart's documented keys for the sections these values set (closed where the chart's
# models forbid extra keys: the run launcher, the run coordinator, concurrency, postgresql).
SCHEMA = {
    "type": "object",
    "properties": {
        "global": {"type": "object", "properties": {"postgresqlSecretName": _STR,
                                                    "serviceAccountName": _STR}},
        "generatePostgresqlPasswordSecret": _BOOL,
        "postgresql": _closed({
            "enabled": {"const": False}, "postgresqlHost": _STR, "postgresqlUsername": _STR,
            "postgresqlPassword": _STR, "postgresqlDatabase": _STR, "postgresqlScheme": _STR,
            "postgresqlParams": _OBJECT, "image": _OBJECT,
            "service": _closed({"port": _INT}, ("port",))},
            ("enabled", "postgresqlHost", "postgresqlDatabase", "postgresqlUsername")),
        "dagster-user-deployments": {"type": "object", "properties": {
            "enabled": {"const": True}, "enableSubchart": _BOOL,
            "deployments": {"type": "array", "minItems": 1, "items": _closed({
                "name": _STR, "image": _closed({"repository": _STR, "tag": _STR,
                                                "pullPolicy": _STR}, ("repository", "tag")),
                "dagsterApiGrpcArgs": {"type": "array", "items": _STR},
                "codeServerArgs": {"type": "array", "items": _STR}, "port": _INT,
                "includeConfigInLaunchedRuns": _closed({"enabled": _BOOL}),
                "env": {"type": ["object", "array"]}, "envConfigMaps": _NAMES,
                "envSecrets": _NAMES, "resources": _OBJECT, "podSecurityContext": _OBJECT,
                "securityContext": _OBJECT, "labels": _OBJECT, "annotations": _OBJECT,
                "nodeSelector": _OBJECT, "affinity": _OBJECT, "tolerations": {"type": "array"},
                "livenessProbe": _OBJECT, "readinessProbe": _OBJECT, "startupProbe": _OBJECT,
                "volumeMounts": {"type": "array"}, "volumes": {"type": "array"}},
                ("name", "image", "port"))}}},
        "runLauncher": _closed({"type": {"const": "K8sRunLauncher"}, "config": _closed({
            "k8sRunLauncher": _closed({
                "image": _OBJECT, "imagePullPolicy": _STR, "jobNamespace": {"type": ["string",
                                                                                    "null"]},
                "loadInclusterConfig": _BOOL, "kubeconfigFile": {"type": ["string", "null"]},
                "envConfigMaps": _NAMES, "envSecrets": _NAMES,
                "envVars": {"type": "array", "items": _STR},
                "volumeMounts": {"type": "array"}, "volumes": {"type": "array"},
                "labels": _OBJECT, "resources": _OBJECT, "schedulerName": _STR,
                "securityContext": _OBJECT, "runK8sConfig": _OBJECT,
                "failPodOnRunFailure": _BOOL}, ("imagePullPolicy", "loadInclusterConfig"))})},
            ("type", "config")),
        "dagsterDaemon": {"type": "object", "properties": {
            "runCoordinator": _closed({
                "enabled": {"const": True}, "type": {"const": "QueuedRunCoordinator"},
                "config": _closed({"queuedRunCoordinator": _closed({
                    "maxConcurrentRuns": _INT, "tagConcurrencyLimits": _TAG_LIMITS,
                    "dequeueIntervalSeconds": _INT, "dequeueNumWorkers": _INT,
                    "dequeueUseThreads": _BOOL})})}, ("enabled", "type", "config")),
            "runMonitoring": {"type": "object", "additionalProperties": _INT,
                              "properties": {"enabled": _BOOL}},
            "runRetries": _closed({"enabled": _BOOL, "maxRetries": _INT})}},
        "concurrency": _closed({
            "enabled": {"const": True},
            "pools": _closed({"defaultLimit": _INT, "granularity": {"enum": ["run", "op"]},
                              "opGranularityRunBuffer": _INT}),
            "runs": _closed({"maxConcurrentRuns": _INT, "tagConcurrencyLimits": _TAG_LIMITS})}),
        "computeLogManager": {"type": "object", "properties": {"type": _STR}},
        "pythonLogs": {"type": "object", "properties": {
            "managedPythonLoggers": {"type": "array", "items": _STR}}},
        "telemetry": _closed({"enabled": _BOOL}),
    },
}


def test_the_helm_values_use_only_the_charts_documented_keys():
    values = _helm()
    jsonschema.validate(values, SCHEMA)
    values["runLauncher"]["config"]["k8sRunLauncher"]["envSecret"] = []  # the check can fail
    with pytest.raises(jsonschema.ValidationError, match="envSecret"):
        jsonschema.validate(values, SCHEMA)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.title() for word in rest)


def test_the_helm_values_describe_the_same_instance_as_deploy_dagster_yaml():
    helm, deployed = _helm(), _deployed()
    concurrency = deployed["concurrency"]
    assert helm["concurrency"]["pools"] == {"defaultLimit": concurrency["pools"]["default_limit"]}
    runs = concurrency["runs"]
    assert helm["concurrency"]["runs"] == {
        "maxConcurrentRuns": runs["max_concurrent_runs"],
        "tagConcurrencyLimits": runs["tag_concurrency_limits"]}
    daemon = helm["dagsterDaemon"]
    assert daemon["runMonitoring"] == {_camel(k): v for k, v in
                                       deployed["run_monitoring"].items()}
    assert daemon["runRetries"] == {_camel(k): v for k, v in deployed["run_retries"].items()}
    assert daemon["runCoordinator"]["config"]["queuedRunCoordinator"] == {
        "dequeueIntervalSeconds": deployed["run_coordinator"]["config"]["dequeue_interval_seconds"]}
    assert helm["pythonLogs"]["managedPythonLoggers"] == deployed["python_logs"][
        "managed_python_loggers"]
    assert helm["telemetry"] == deployed["telemetry"]
    assert helm["computeLogManager"]["type"] == deployed["compute_logs"]["class"]

    database = deployed["storage"]["postgres"]["postgres_db"]
    assert helm["postgresql"]["postgresqlScheme"] == database["scheme"]
    assert helm["global"]["postgresqlSecretName"] == deployed["run_launcher"]["config"][
        "postgres_password_secret"]

    launcher, k8s = deployed["run_launcher"]["config"], helm["runLauncher"]["config"][
        "k8sRunLauncher"]
    [location] = helm["dagster-user-deployments"]["deployments"]
    for source in (k8s, location):
        assert [s["name"] for s in source["envSecrets"]] == launcher["env_secrets"]
        assert {c["name"] for c in source["envConfigMaps"]} <= set(launcher["env_config_maps"])
    assert k8s["resources"] == launcher["resources"]
    assert k8s["labels"] == launcher["labels"]
    assert k8s["runK8sConfig"]["containerConfig"]["securityContext"] == launcher[
        "security_context"]
    assert location["codeServerArgs"][:2] == ["--module-name", "campaign_pipelines.definitions"]
