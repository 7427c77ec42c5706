"""Deployment files: Kubernetes manifests against the Kubernetes schemas (offline); compose and images by contract."""

import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import yaml

DEPLOY = Path(__file__).parents[3] / "deploy"


def test_kubernetes_manifests_validate_strictly_against_the_schemas():
    tool = Path(sys.executable).parent / "kubernetes-validate"
    manifests = sorted(map(str, (DEPLOY / "k8s").rglob("*.yaml")))
    result = subprocess.run([str(tool), "-k", "1.30.0", "--strict", *manifests], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {doc["kind"] for path in manifests for doc in yaml.safe_load_all(Path(path).read_text())}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "ConfigMap",
        "NetworkPolicy",
        "PersistentVolumeClaim",
    } <= kinds
    assert "Secret" not in kinds  # secrets are created by whoever deploys, never applied from here


def k8s_documents() -> dict[str, dict]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d
        for p in (DEPLOY / "k8s").rglob("*.yaml")
        for d in yaml.safe_load_all(p.read_text())
    }


def pods() -> dict[str, dict]:
    return {n: d["spec"]["template"]["spec"] for n, d in k8s_documents().items() if d["kind"] in WORKLOADS}


WORKLOADS = ("Deployment", "StatefulSet")


def test_triton_asks_for_a_gpu_and_workers_scale_on_the_queue_but_finish_their_jobs():
    docs = k8s_documents()
    triton = docs["Deployment/ganc-triton"]["spec"]["template"]["spec"]
    assert triton["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--model-control-mode=explicit" in triton["containers"][0]["args"]
    worker_scaling = docs["HorizontalPodAutoscaler/ganc-worker"]["spec"]
    assert worker_scaling["metrics"][0]["external"]["metric"]["name"] == "ganc_job_queue_depth"
    assert worker_scaling["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 600}]
    # Celery finishes the running job on SIGTERM: the grace period is the longest a job may run.
    assert pods()["Deployment/ganc-worker"]["terminationGracePeriodSeconds"] >= 24 * 3600


def test_every_pod_meets_the_restricted_pod_security_profile():
    for name, pod in pods().items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert security["fsGroup"] == security["runAsUser"], name  # the volumes are the runtime user's
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == mounts["/tmp"]), name


def test_no_secret_lives_in_the_manifests_and_redis_wants_its_password():
    docs = k8s_documents()
    settings = docs["ConfigMap/ganc-config"]["data"]
    assert not {"GANC_API_TOKEN", "GANC_BROKER_URL", "GANC_RESULT_BACKEND"} & set(settings)
    redis = pods()["StatefulSet/ganc-redis"]["containers"][0]
    assert "--requirepass" in redis["command"][-1]
    assert redis["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "ganc-secrets", "key": "REDIS_PASSWORD"}


def test_only_the_gateway_is_reachable_and_redis_and_triton_answer_only_ganc():
    policies = {n: d["spec"] for n, d in k8s_documents().items() if d["kind"] == "NetworkPolicy"}
    deny = policies["NetworkPolicy/ganc-deny-by-default"]
    assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "ganc"} and "ingress" not in deny
    open_to_all = [n for n, p in policies.items() if any("from" not in rule for rule in p.get("ingress", []))]
    assert open_to_all == ["NetworkPolicy/ganc-gateway-from-anywhere"]
    for server in ("redis", "triton"):
        rule = policies[f"NetworkPolicy/ganc-{server}-from-ganc"]["ingress"][0]
        callers = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]}
        assert callers == {"ganc-gateway", "ganc-worker", "ganc-worker-gpu"}, server


def redis_settings(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_redis_keeps_queued_jobs_the_same_way_everywhere():
    committed = redis_settings((DEPLOY / "redis" / "redis.conf").read_text())
    assert "appendonly yes" in committed
    in_kubernetes = k8s_documents()["ConfigMap/ganc-redis-config"]["data"]["redis.conf"]
    assert redis_settings(in_kubernetes) == committed
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert "./redis/redis.conf:/usr/local/etc/redis/redis.conf:ro" in compose["services"]["redis"]["volumes"]


def test_compose_wires_the_stack_together():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "gateway", "worker", "worker-gpu", "triton", "prometheus", "grafana"}
    gpu = services["triton"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert "--model-control-mode=explicit" in services["triton"]["command"]
    # Prometheus scrapes what compose runs, on the ports they serve.
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {t for job in scraped for group in job["static_configs"] for t in group["targets"]}
    assert targets == {"gateway:9102", "worker:9101", "worker-gpu:9101", "triton:8002"}
    assert "../model_repository:/models:ro" in services["gateway"]["volumes"]  # it only reads
    assert "../model_repository:/models" in services["worker"]["volumes"]  # it publishes
    for name in ("gateway", "worker"):
        assert "jobs:/jobs" in services[name]["volumes"], name
    for mount in services["grafana"]["volumes"] + services["prometheus"]["volumes"]:
        source = mount.split(":")[0]
        assert not source.startswith(".") or (DEPLOY / source).exists(), mount


def test_compose_opens_only_the_gateway_and_guards_grafana_and_redis():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["gateway"]["ports"] == ["3000:3000"]
    for name in ("grafana", "prometheus"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "${GRAFANA_ANONYMOUS:-false}"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert compose["secrets"]["grafana_admin_password"] == {"environment": "GRAFANA_ADMIN_PASSWORD"}
    assert "--requirepass" in services["redis"]["command"][-1]
    for url in ("GANC_BROKER_URL", "GANC_RESULT_BACKEND"):
        assert services["worker"]["environment"][url].startswith("redis://:${REDIS_PASSWORD"), url


def test_images_run_as_a_non_root_user_and_only_the_worker_has_torch():
    for name in ("gateway", "worker"):
        dockerfile = (DEPLOY / "docker" / f"{name}.Dockerfile").read_text()
        assert re.search(r"^USER ganc$", dockerfile, re.M), name
        assert "chown ganc:ganc /models /jobs" in dockerfile, name  # the runtime user writes them
    gateway = (DEPLOY / "docker" / "gateway.Dockerfile").read_text()
    assert "'.[serve]'" in gateway and "compression" not in gateway
    assert "'.[worker]'" in (DEPLOY / "docker" / "worker.Dockerfile").read_text()


def test_the_gateways_dependencies_leave_torch_to_the_workers():
    def needed(extra: str | None) -> set[str]:
        names = set()
        for requirement in requires("ganc"):
            name, _, marker = requirement.partition(";")
            if not marker or (extra and f'extra == "{extra}"' in marker):
                names.add(re.split(r"[\[<>=!~ ]", name.strip(), maxsplit=1)[0].lower())
        return names

    assert "torch" not in needed(None) | needed("serve")
    assert "torch" in needed("compress") and "ganc" in needed("worker")


def test_each_pod_gets_only_the_secret_keys_it_uses():
    wanted = {
        "Deployment/ganc-gateway": {
            "GANC_API_TOKEN",
            "GANC_BROKER_URL",
            "GANC_RESULT_BACKEND",
            "GANC_TRITON_CONTROL_KEY",
        },
        "Deployment/ganc-worker": {"GANC_BROKER_URL", "GANC_RESULT_BACKEND", "GANC_TRITON_CONTROL_KEY"},
        "Deployment/ganc-worker-gpu": {"GANC_BROKER_URL", "GANC_RESULT_BACKEND", "GANC_TRITON_CONTROL_KEY"},
        "Deployment/ganc-triton": {"GANC_TRITON_CONTROL_KEY"},
        "StatefulSet/ganc-redis": {"REDIS_PASSWORD"},
    }
    for name, pod in pods().items():
        for container in pod["containers"]:
            assert all("secretRef" not in source for source in container.get("envFrom", [])), name  # no whole Secret
            given = {e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", []) if "valueFrom" in e}
            assert given == wanted[name], name


def images() -> list[str]:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    found = [service["image"] for service in compose["services"].values()]
    found += [c["image"] for pod in pods().values() for c in pod["containers"]]
    for dockerfile in (DEPLOY / "docker").glob("*.Dockerfile"):
        found += re.findall(r"^FROM (\S+)", dockerfile.read_text(), re.M)
    return found


def test_every_image_is_pinned_and_ours_carry_the_packages_version():
    from importlib.metadata import version

    for image in images():
        name, _, tag = image.rpartition(":")
        assert name and tag != "latest" and re.search(r"\d+\.\d+", tag), image  # a release, not a moving name
        if name in ("ganc-gateway", "ganc-worker"):
            assert tag == version("ganc"), image


def test_compose_containers_are_hardened_and_bounded():
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["mem_limit"] and service["pids_limit"], name
    assert not services["triton"]["user"].startswith("0")


def test_tritons_repository_api_asks_for_the_key_everywhere():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    commands = {"compose": compose["services"]["triton"]["command"]}
    commands["kubernetes"] = pods()["Deployment/ganc-triton"]["containers"][0]["args"]
    for where, command in commands.items():
        for flag in ("--http-restricted-api", "--grpc-restricted-protocol"):
            option = next(arg for arg in command if arg.startswith(flag))
            assert option.split("=", 1)[1].startswith("model-repository:ganc-triton-control=$"), where
    assert "GANC_TRITON_CONTROL_KEY" in compose["x-ganc-env"]


def test_every_scratch_volume_is_bounded():
    for name, pod in pods().items():
        for volume in pod["volumes"]:
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), (name, volume["name"])


def test_ganc_pods_call_out_only_to_redis_triton_and_dns_and_metrics_are_scraped_from_monitoring_only():
    policies = {n: d["spec"] for n, d in k8s_documents().items() if d["kind"] == "NetworkPolicy"}
    assert policies["NetworkPolicy/ganc-deny-by-default"]["policyTypes"] == ["Ingress", "Egress"]
    with_egress = [n for n, p in policies.items() if p.get("egress")]
    assert with_egress == ["NetworkPolicy/ganc-callers-to-redis-triton-and-dns"]
    callers = policies[with_egress[0]]["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(callers) == ["ganc-gateway", "ganc-worker", "ganc-worker-gpu"]
    scraped = policies["NetworkPolicy/ganc-metrics-from-prometheus"]["ingress"][0]
    scrapers = scraped["from"]
    metrics_ports = {port["port"] for port in scraped["ports"]}
    for pod in ("gateway", "worker", "triton"):  # every metrics port is scraped, and only from monitoring
        containers = k8s_documents()[f"Deployment/ganc-{pod}"]["spec"]["template"]["spec"]["containers"]
        declared = {p["containerPort"] for c in containers for p in c.get("ports", []) if p.get("name") == "metrics"}
        assert declared and declared <= metrics_ports, pod
    public = policies["NetworkPolicy/ganc-gateway-from-anywhere"]["ingress"][0]["ports"]
    assert [port["port"] for port in public] == [3000]
    assert all(
        p["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}} for p in scrapers
    )


def test_gpu_workers_take_one_gpu_each_and_run_where_gpus_are():
    pod = pods()["Deployment/ganc-worker-gpu"]
    worker = pod["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1 and worker["args"] == ["ganc", "worker", "--gpus", "0"]
    assert pod["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert {"name": "shm", "mountPath": "/dev/shm"} in worker["volumeMounts"]
    cpu_worker = k8s_documents()["Deployment/ganc-worker"]["spec"]["selector"]["matchLabels"]
    assert cpu_worker != k8s_documents()["Deployment/ganc-worker-gpu"]["spec"]["selector"]["matchLabels"]
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["command"] == ["ganc", "worker", "--gpus", "0"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert gpu["environment"] == services["worker"]["environment"] and gpu["volumes"] == services["worker"]["volumes"]
