"""docker-compose.yml, the Dockerfile and the Kubernetes manifests, checked without Docker."""

from __future__ import annotations

from pathlib import Path

import yaml
from splitcart_shared.runtime import discover_services
from splitcart_shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"scheduler", "scraper", "ingest", "grouper", "archiver"}


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_infrastructure_migrations_and_every_service() -> None:
    services = compose()["services"]
    assert {"postgres", "rabbitmq", "migrate"} | SERVICES <= set(services)
    assert services["migrate"]["command"] == ["splitcart", "migrate"]
    for name in SERVICES:
        spec = services[name]
        assert spec["build"]["args"]["SERVICE"] == name
        assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_builds_only_packages_that_exist() -> None:
    installed = set(discover_services())
    for spec in compose()["services"].values():
        if "build" in spec:
            assert spec["build"]["args"]["SERVICE"] in installed
            assert (ROOT / spec["build"]["dockerfile"]).is_file()


def test_compose_environment_names_real_settings() -> None:
    fields = {f"SPLITCART_{name.upper()}" for name in CommonSettings.model_fields}
    retailer = {f"SPLITCART_{c}_BASE_URL" for c in ("COLES", "WOOLWORTHS", "ALDI", "IGA")}
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy/splitcart.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(env) <= fields | retailer | {"SPLITCART_IGA_LOCATOR_URL"}
    assert env["SPLITCART_AMQP_URL"].startswith("amqp://")


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    text = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "uv sync --frozen --no-dev" in text
    assert "\nUSER splitcart" in text


def test_kubernetes_deployments_probe_health_and_readiness() -> None:
    deployments = {}
    for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                deployments[doc["metadata"]["name"]] = doc
    assert set(deployments) == SERVICES
    for doc in deployments.values():
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_scraper_autoscaling_follows_the_schedulers_due_work_gauge() -> None:
    doc = yaml.safe_load((ROOT / "deploy/k8s/20-scraper-autoscaling.yaml").read_text())
    assert doc["spec"]["scaleTargetRef"]["name"] == "scraper"
    assert "splitcart_scheduler_due_stores" in doc["spec"]["triggers"][0]["metadata"]["query"]
