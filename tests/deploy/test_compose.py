"""docker-compose.yml cannot run here (no Docker engine): check that it parses and that every
command, setting and file it relies on exists in the project."""

from pathlib import Path

import yaml
from typer.testing import CliRunner

from service.cli.main import app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_topology():
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "api", "worker"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "replicas" not in services["worker"].get("deploy", {})  # scaled with --scale


def test_commands_exist_in_the_cli():
    runner = CliRunner()
    for name in ("api", "worker"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "optrack"
        result = runner.invoke(app, [command[1], "--help"])
        assert result.exit_code == 0, result.output
        for option in (c for c in command[2:] if c.startswith("--")):
            assert option in result.output, f"{name}: {option} is not an option of {command[1]}"


def test_environment_variables_are_settings_or_worker_options():
    known = {f"OPTRACK_{name.upper()}" for name in Settings.model_fields}
    known |= {"OPTRACK_SERVER", "OPTRACK_TOKEN"}  # read by `optrack worker`
    worker_source = (ROOT / "worker" / "__main__.py").read_text() + (
        ROOT / "service" / "cli" / "main.py").read_text()
    for name, service in COMPOSE["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("OPTRACK_"):
                assert variable in known, f"{name}: {variable} is read by nothing"
                if variable in ("OPTRACK_SERVER", "OPTRACK_TOKEN"):
                    assert variable in worker_source


def test_dockerfile_copies_what_exists():
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    for name in ("api", "worker"):
        assert COMPOSE["services"][name]["build"] == "."
