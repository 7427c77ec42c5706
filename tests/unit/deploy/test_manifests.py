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
    manifests = sorted(map(str, (DEPLOY / "k8s").glob("*.yaml")))
    result = subprocess.run([str(tool), "-k", "1.30.0", "--strict", *manifests], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {doc["kind"] for path in manifests for doc in yaml.safe_load_all(Path(path).read_text())}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
    } <= kinds


def k8s_documents() -> dict[str, dict]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d
        for p in (DEPLOY / "k8s").glob("*.yaml")
        for d in yaml.safe_load_all(p.read_text())
    }


def test_triton_asks_for_a_gpu_and_every_pod_runs_as_a_non_root_user():
    docs = k8s_documents()
    triton = docs["Deployment/ganc-triton"]["spec"]["template"]["spec"]
    assert triton["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--model-control-mode=explicit" in triton["containers"][0]["args"]
    for name, doc in docs.items():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True, name
    worker_scaling = docs["HorizontalPodAutoscaler/ganc-worker"]["spec"]["metrics"][0]
    assert worker_scaling["external"]["metric"]["name"] == "ganc_job_queue_depth"
    assert docs["Secret/ganc-api-token"]["stringData"]["GANC_API_TOKEN"]


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
    assert set(services) == {"redis", "gateway", "worker", "triton", "prometheus", "grafana"}
    gpu = services["triton"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert "--model-control-mode=explicit" in services["triton"]["command"]
    # Prometheus scrapes what compose runs, on the ports they serve.
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {t for job in scraped for group in job["static_configs"] for t in group["targets"]}
    assert targets == {"gateway:3000", "worker:9101", "triton:8002"}
    for name in ("gateway", "worker"):
        mounts = services[name]["volumes"]
        assert "../model_repository:/models" in mounts and "jobs:/jobs" in mounts
    for mount in services["grafana"]["volumes"] + services["prometheus"]["volumes"]:
        source = mount.split(":")[0]
        assert not source.startswith(".") or (DEPLOY / source).exists(), mount


def test_images_run_as_a_non_root_user_and_only_the_worker_has_torch():
    for name in ("gateway", "worker"):
        dockerfile = (DEPLOY / "docker" / f"{name}.Dockerfile").read_text()
        assert re.search(r"^USER ganc$", dockerfile, re.M), name
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
