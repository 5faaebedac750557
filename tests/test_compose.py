"""Consistency of the production-like stack (docker-compose.yml): no Docker engine runs here,
so this is the check that the file would start — names, ports, settings and files agree, and
each site's gateway reaches its own Orthanc the way that Orthanc's configuration says."""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from partage.cli import SERVICES

ROOT = Path(__file__).resolve().parent.parent
#: ports the infrastructure images listen on (postgres: image default; minio: its --address)
INFRASTRUCTURE_PORTS = {"postgres": 5432, "minio": 9000}
#: where a site PACS container reads its Orthanc configuration (deploy/orthanc/Dockerfile)
ORTHANC_CONFIG = "/etc/partage/orthanc.json"
#: settings naming addresses outside the stack: how consumers reach a gateway, the region's IdP
EXTERNAL_URLS = {"PARTAGE_GATEWAY_PUBLIC_URL", "PARTAGE_GATEWAY_ISSUER",
                 "PARTAGE_REGISTRY_ISSUER", "PARTAGE_REPOSITORY_ISSUER",
                 "PARTAGE_PORTAL_PUBLIC_URL", "PARTAGE_PORTAL_ISSUER"}
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


def _orthanc_config(service: dict[str, Any]) -> dict[str, Any] | None:
    """The Orthanc configuration file a site PACS service mounts, parsed; None otherwise."""
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if target == ORTHANC_CONFIG:
            return json.loads((ROOT / source).read_text())  # type: ignore[no-any-return]
    return None


def _listening_port(compose: dict[str, Any], name: str) -> int:
    service = compose["services"][name]
    partage = _partage_service(service)
    if partage is None:
        orthanc = _orthanc_config(service)
        return int(orthanc["HttpPort"]) if orthanc else INFRASTRUCTURE_PORTS[name]
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
            if var in EXTERNAL_URLS:
                assert url.scheme in ("http", "https") and url.hostname, f"{name}: {var}"
                continue
            assert url.hostname in services, f"{name}: {var} points at {url.hostname}"
            assert url.port == _listening_port(compose, url.hostname), f"{name}: {var}"
            checked += 1
    assert checked >= 13  # 4 databases, registry, identity, repository, object store, DICOMweb


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
    for copied in re.findall(r"^COPY (?!--from=)(\S+)", text, flags=re.M):
        assert (ROOT / copied).exists(), copied
    # the viewer bundle comes from the build stage, made from the locked npm packages
    assert "npm ci" in text and "COPY --from=viewer /viewer/dist ./portal/viewer/dist" in text
    assert 'ENTRYPOINT ["partage"]' in text
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"]["wheel"]["packages"]
    for package in packages:  # the image serves every service, the gateway included
        assert f"COPY {package} ./{package}" in text, package


def _gateways(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Gateway service name → its settings (``PARTAGE_GATEWAY_`` stripped, lower case)."""
    return {
        name: {k.removeprefix("PARTAGE_GATEWAY_").lower(): v
               for k, v in _environment(service).items()}
        for name, service in compose["services"].items()
        if _partage_service(service) == "gateway"
    }


def test_two_sites_each_a_pacs_and_a_gateway(compose: dict[str, Any]) -> None:
    gateways = _gateways(compose)
    assert len(gateways) == 2
    for key in ("site_oid", "repository_unique_id", "local_patient_authority", "ae_title",
                "database_url"):
        assert len({g[key] for g in gateways.values()}) == 2, f"{key} is shared by the sites"
    assert {g["pacs_adapter"] for g in gateways.values()} == {"dimse", "dicomweb"}
    for name, settings in gateways.items():
        assert settings["repository_unique_id"].startswith(settings["site_oid"] + "."), name
        pacs = next(d for d in compose["services"][name]["depends_on"] if d.startswith("orthanc"))
        assert _orthanc_config(compose["services"][pacs]) is not None, f"{name} → {pacs}"


def test_gateways_reach_their_orthanc_as_it_is_configured(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, settings in _gateways(compose).items():
        if settings["pacs_adapter"] == "dimse":
            pacs = settings["pacs_host"]
            orthanc = _orthanc_config(services[pacs])
            assert orthanc is not None, f"{name}: {pacs} is not a site PACS"
            assert int(settings["pacs_port"]) == orthanc["DicomPort"], name
        else:
            url = urlsplit(settings["pacs_dicomweb_url"])
            pacs = str(url.hostname)
            orthanc = _orthanc_config(services[pacs])
            assert orthanc is not None, f"{name}: {pacs} is not a site PACS"
            web = orthanc["DicomWeb"]
            assert web["Enable"] and url.path.rstrip("/") == web["Root"].rstrip("/"), name
            # Orthanc writes Retrieve URLs with this host: the gateway's own view of it
            assert web["Host"] == url.netloc, name
        assert settings["pacs_ae_title"] == orthanc["DicomAet"], name
        assert orthanc["RemoteAccessAllowed"] and orthanc["DicomAlwaysAllowGet"], pacs
        # the PACS knows its gateway as a DICOM peer (forwarding, C-MOVE destination)
        peers = {tuple(m) for m in orthanc["DicomModalities"].values()}
        assert (settings["ae_title"], name, int(settings["dicom_port"])) in peers, pacs
        plugins = {Path(p).name for p in orthanc["Plugins"]}
        assert {"libOrthancDicomWeb.so", "libOrthancGdcm.so"} <= plugins, pacs


def test_site_pacs_image_is_the_tested_orthanc(compose: dict[str, Any]) -> None:
    from partage.orthanc import DEBIAN_PACKAGES, ORTHANC_BINARY

    for name, service in compose["services"].items():
        if _orthanc_config(service) is None:
            continue
        dockerfile = (ROOT / service["build"]["context"] / "Dockerfile").read_text()
        assert all(pkg in dockerfile for pkg in DEBIAN_PACKAGES if pkg != "dcmtk"), name
        assert f'ENTRYPOINT ["{ORTHANC_BINARY}"]' in dockerfile
        assert f'CMD ["{ORTHANC_CONFIG}"]' in dockerfile
        assert "TCP_NODELAY=1" in dockerfile
