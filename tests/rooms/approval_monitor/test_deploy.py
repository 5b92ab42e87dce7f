"""The deployment files against the code: what a container would run exists, and the image holds every package.

No Docker engine runs here, so the compose file is read as data and each
service's command is run outside a container the way the image's entry point
would run it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_docker_compose_parses_the_file_without_an_engine() -> None:
    """Debian's docker-compose 1.29 (deploy/test-tools.sh installs it) validates against its schema."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: deploy/test.sh installs Debian's (deploy/test-tools.sh)"
    out = subprocess.run([binary, "-f", "docker-compose.yml", "config", "-q"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_compose_runs_kafka_elasticsearch_and_every_part_of_the_monitor() -> None:
    services = _compose()["services"]
    assert {"kafka", "elasticsearch", "worker", "sink", "webhooks", "api"} <= set(services)
    assert services["elasticsearch"]["image"].split(":")[-1].startswith("8.")
    for name in ("worker", "sink", "webhooks", "api"):
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["APPROVAL_MONITOR_STORE_URL"] == "http://elasticsearch:9200"
        assert "healthcheck" in services["kafka"] and "healthcheck" in services["elasticsearch"]
        assert all(dep["condition"] == "service_healthy" for dep in services[name]["depends_on"].values())


def test_every_compose_command_is_a_command_of_the_image_entry_point() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["approval-monitor"]' in dockerfile
    for name, service in _compose()["services"].items():
        if service.get("image", "").startswith("approval-monitor"):
            command = service["command"]
            out = subprocess.run(
                [sys.executable, "-m", "approval_monitor", *command[:1], "--help"],
                capture_output=True, text=True, cwd=ROOT, timeout=60,
            )  # fmt: skip
            assert out.returncode == 0, f"{name}: {command} is not a command: {out.stderr}"
            for option in command[1:]:
                if option.startswith("--"):
                    assert option in out.stdout, f"{name}: {option} is not an option of {command[0]}"


def test_the_image_copies_every_package_the_project_installs() -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"the Dockerfile does not copy {packages - copied}"


def test_the_tests_run_the_elasticsearch_that_compose_runs() -> None:
    """deploy/elasticsearch.sh fetches the version of the compose file's image, so tests and production agree."""
    image = _compose()["services"]["elasticsearch"]["image"]
    pom = (ROOT / "deploy" / "elasticsearch" / "pom.xml").read_text()
    (version,) = re.findall(r"<elasticsearch.version>(.+?)</elasticsearch.version>", pom)
    assert image.endswith(":" + version), (image, version)
