"""A real Prometheus scrapes a real gateway (on its metrics port) and a real compression worker during a
short load; every recording rule and every PromQL expression of every Grafana dashboard panel returns data."""

import json
import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from ganc.card import VariantCard
from ganc.job_store import JobStore
from ganc.repository import publish_variant
from tests.support import (
    GANC,
    TINY,
    broker_env,
    card_fields,
    free_ports,
    png,
    send,
    spawn,
    start_worker,
    stop_all,
    wait_for,
    wait_for_http,
)

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).parents[2] / "deploy"
# Grafana's own variables, as Grafana would fill them for a short range.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}


def query(url: str, expr: str) -> list:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def panel_queries() -> list[tuple[str, str]]:
    queries = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"{path.name} '{panel['title']}' uses an unknown variable: {expr}"
                queries.append((f"{path.stem}: {panel['title']} [{target['refId']}]", expr))
    return queries


def recording_rules() -> list[str]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "ganc.yml").read_text())["groups"]
    return [rule["record"] for group in groups for rule in group["rules"] if "record" in rule]


def test_dashboards_have_fixed_uids_and_name_the_provisioned_data_source():
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboards = {p.stem: json.loads(p.read_text()) for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")}
    assert {d["uid"] for d in dashboards.values()} == {"ganc-serving", "ganc-jobs"}
    for dashboard in dashboards.values():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == uid and all(t["datasource"]["uid"] == uid for t in panel["targets"])


def test_every_dashboard_query_and_recording_rule_returns_data(tmp_path, tiny_onnx):
    env = broker_env(tmp_path)
    for variant, psnr in (("teacher", 30.0), ("small", 29.0)):
        card = VariantCard(**card_fields(tiny_onnx, variant=variant, quality={"psnr": psnr}))
        publish_variant(tmp_path / "repo", tiny_onnx, card)
    gateway_port, gateway_metrics_port, worker_port, prometheus_port = free_ports(4)
    serve = [GANC, "serve", "--port", str(gateway_port), "--repo", str(tmp_path / "repo")]
    gateway_env = {**env, "GANC_WARMUP_RUNS": "1", "GANC_WARMUP_SIZE": "64"}
    gateway = spawn(
        serve, {**gateway_env, "GANC_GATEWAY_METRICS_PORT": str(gateway_metrics_port)}, tmp_path / "gateway.log"
    )
    worker = start_worker({**env, "GANC_WORKER_METRICS_PORT": str(worker_port)}, tmp_path / "worker.log")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "rules" / "*.yml")],
        "scrape_configs": [
            {"job_name": "ganc-gateway", "static_configs": [{"targets": [f"127.0.0.1:{gateway_metrics_port}"]}]},
            {"job_name": "ganc-worker", "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus = spawn(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        {},
        tmp_path / "prometheus.log",
    )
    url = f"http://127.0.0.1:{prometheus_port}"
    try:
        job_id = send(env, TINY)  # a real job, so that stage durations exist
        wait_for_http(f"http://127.0.0.1:{gateway_port}/readyz", gateway, tmp_path / "gateway.log")
        data, headers = png(64, 64), {"Content-Type": "image/png"}
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=30) as client:
            for i in range(40):  # budgets that are met, budgets nothing can meet, refusals
                budget = 10_000 if i % 2 else 0.001
                assert client.post(f"/v1/translate/tiny?budget_ms={budget}", content=data, headers=headers).is_success
                time.sleep(0.1)
            assert client.post("/v1/translate/tiny", content=b"junk", headers=headers).status_code == 415
        assert wait_for(JobStore(tmp_path / "jobs"), job_id, lambda r: r.state in ("succeeded", "failed")).state == (
            "succeeded"
        )
        time.sleep(4)  # a few more scrapes and rule evaluations
        missing = [f"{name}: {expr}" for name, expr in panel_queries() if not query(url, expr)]
        missing += [f"recording rule {name}" for name in recording_rules() if not query(url, name)]
        assert not missing, "queries that returned nothing:\n" + "\n".join(missing)
        hardware = {s["metric"]["hardware"] for s in query(url, "ganc:requests:rate5m")}
        assert hardware and all(re.search(r"\w", h) for h in hardware)
    finally:
        stop_all([prometheus, worker, gateway])
