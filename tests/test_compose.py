"""Consistency of the production-like stack (docker-compose.yml): no Docker engine runs here,
so this is the check that the file would start — names, ports, settings and files agree."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from partage.cli import SERVICES

ROOT = Path(__file__).resolve().parent.parent
#: ports the infrastructure images listen on (postgres: image default; minio: its --address)
INFRASTRUCTURE_PORTS = {"postgres": 5432, "minio": 9000}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose variable substitution with every variable unset: ``${X:-default}`` → default."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _partage_service(service: dict[str, Any]) -> str | None:
    """The Partage service an entry runs (``partage serve <name>``), or None."""
    command = service.get("command") or []
    return command[1] if command[:1] == ["serve"] and len(command) > 1 else None


def _settings_class(name: str) -> type:
    module, attr = SERVICES[name][1].split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def _listening_port(compose: dict[str, Any], name: str) -> int:
    service = compose["services"][name]
    partage = _partage_service(service)
    if partage is None:
        return INFRASTRUCTURE_PORTS[name]
    cls = _settings_class(partage)
    prefix = cls.model_config["env_prefix"]
    return int(_environment(service).get(f"{prefix}PORT", cls.model_fields["port"].default))


def test_every_service_is_checked_for_health(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_partage_services_check_their_health_endpoint(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if _partage_service(service):
            test = " ".join(service["healthcheck"]["test"])
            assert f"127.0.0.1:{_listening_port(compose, name)}/health" in test, name


def test_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert condition == {"condition": "service_healthy"}, f"{name} → {target}"


def test_environment_names_real_settings(compose: dict[str, Any]) -> None:
    seen = set()
    for name, service in compose["services"].items():
        partage = _partage_service(service)
        if partage is None:
            continue
        seen.add(partage)
        cls = _settings_class(partage)
        prefix = cls.model_config["env_prefix"]
        fields = {f.upper() for f in cls.model_fields}
        for var in _environment(service):
            assert var.startswith(prefix), f"{name}: {var} is not read by {cls.__name__}"
            assert var.removeprefix(prefix) in fields, f"{name}: {var} is not a setting"
        cls(**{k.removeprefix(prefix).lower(): v for k, v in _environment(service).items()})
    assert seen == set(SERVICES), "every Partage service runs in the stack"


def test_urls_use_service_names_and_their_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    checked = 0
    for name, service in services.items():
        for var, value in _environment(service).items():
            if "://" not in value:
                continue
            url = urlsplit(value)
            assert url.hostname in services, f"{name}: {var} points at {url.hostname}"
            assert url.port == _listening_port(compose, url.hostname), f"{name}: {var}"
            checked += 1
    assert checked >= 4  # two databases, the registry, the object store


def test_databases_are_created_by_the_init_script(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    pairs = dict(p.split(":", 1) for p in _environment(postgres)["PARTAGE_DATABASES"].split())
    for name, service in compose["services"].items():
        for var, value in _environment(service).items():
            url = urlsplit(value)
            if url.scheme.startswith("postgresql"):
                database = url.path.lstrip("/")
                assert database in pairs, f"{name}: no database {database} is created"
                assert (url.username, url.password) == (database, pairs[database]), name
    mounts = [v.split(":")[:2] for v in postgres["volumes"]]
    script = next(src for src, dst in mounts if dst.startswith("/docker-entrypoint-initdb.d/"))
    assert (ROOT / script).is_file()


def test_builds_and_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = ROOT / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        assert build or service.get("image"), f"{name} has neither build nor image"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_dockerfile_installs_the_lock_then_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert text.index("requirements.lock") < text.index("pip install --no-deps .")
    for copied in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (ROOT / copied).exists(), copied
    assert 'ENTRYPOINT ["partage"]' in text
