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
from partage.region import SERVICE
from partage.sources import REPOSITORY, SITE_GATEWAY

ROOT = Path(__file__).resolve().parent.parent
#: ports the infrastructure images listen on (postgres: image default; minio: its --address;
#: keycloak: its KC_HTTP_PORT)
INFRASTRUCTURE_PORTS = {"postgres": 5432, "minio": 9000, "keycloak": 8180}
#: where a site PACS container reads its Orthanc configuration (deploy/orthanc/Dockerfile)
ORTHANC_CONFIG = "/etc/partage/orthanc.json"
#: where Keycloak's --import-realm reads realm files
KEYCLOAK_IMPORT = "/opt/keycloak/data/import/"
#: what the portal registers as its redirect URI (partage/web/oidc.py), after its public URL
PORTAL_CALLBACK = "/auth/callback"
#: settings naming addresses outside the stack: how consumers reach a gateway, the region's IdP
EXTERNAL_URLS = {"PARTAGE_GATEWAY_PUBLIC_URL", "PARTAGE_GATEWAY_ISSUER",
                 "PARTAGE_REGISTRY_ISSUER", "PARTAGE_REPOSITORY_ISSUER",
                 "PARTAGE_PORTAL_PUBLIC_URL", "PARTAGE_PORTAL_ISSUER",
                 "KC_HOSTNAME", "PORTAL_PUBLIC_URL", "CONSENT_PUBLIC_URL",
                 "PARTAGE_CONSENT_ISSUER", "PARTAGE_CONSENT_PUBLIC_URL",
                 "PARTAGE_PORTAL_PRIVACY_URL"}
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


# -- Keycloak: the realm the stack imports gives every service what it expects ---------------------
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _resolve(value: Any, env: dict[str, str]) -> Any:
    """The realm file with Keycloak's import-time ``${VAR}`` placeholders filled from ``env``
    (an unset variable fails the test: Keycloak would import the literal text)."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: env[m.group(1)], value)
    if isinstance(value, list):
        return [_resolve(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, env) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def realm(compose: dict[str, Any]) -> dict[str, Any]:
    keycloak = compose["services"]["keycloak"]
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    files = [v.split(":")[0] for v in keycloak["volumes"]
             if v.split(":")[1].startswith(KEYCLOAK_IMPORT)]
    assert len(files) == 1, "one realm file is imported"
    return _resolve(json.loads((ROOT / files[0]).read_text()),  # type: ignore[no-any-return]
                    _environment(keycloak))


def _partage_environments(compose: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each Partage container's settings prefix and environment, by compose service name."""
    found = {}
    for name, service in compose["services"].items():
        if partage := _partage_service(service):
            prefix = _settings_class(partage).model_config["env_prefix"]
            found[name] = (prefix, _environment(service))
    return found


def _client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    matches = [c for c in realm["clients"] if c["clientId"] == client_id]
    assert len(matches) == 1, f"no client {client_id!r} in the realm"
    return matches[0]


def test_keycloak_is_pinned_and_every_service_trusts_its_realm(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    keycloak = compose["services"]["keycloak"]
    image, _, tag = keycloak["image"].partition(":")
    assert image == "quay.io/keycloak/keycloak" and re.fullmatch(r"\d+\.\d+\.\d+", tag)
    issuer = f"{_environment(keycloak)['KC_HOSTNAME']}/realms/{realm['realm']}"
    for name, (prefix, env) in _partage_environments(compose).items():
        assert env.get(f"{prefix}ISSUER") == issuer, f"{name} trusts another issuer"


def test_tokens_carry_the_audience_and_claims_services_read(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    scopes = {s["name"]: s for s in realm["clientScopes"]}
    mappers = [m for client in realm["clients"]
               for name in client["defaultClientScopes"] if name in scopes
               for m in scopes[name]["protocolMappers"]]
    audiences = {m["config"]["included.custom.audience"] for m in mappers
                 if m["protocolMapper"] == "oidc-audience-mapper"}
    claims = {m["config"]["claim.name"] for m in mappers if "claim.name" in m["config"]}
    for client in realm["clients"]:
        assert "partage" in client["defaultClientScopes"], client["clientId"]
    for name, (prefix, env) in _partage_environments(compose).items():
        fields = _settings_class(_partage_service(compose["services"][name]) or "").model_fields
        setting = lambda key: env.get(f"{prefix}{key.upper()}", fields[key].default)  # noqa: E731
        assert setting("audience") in audiences, name
        for key in ("roles_claim", "rpps_claim", "organisation_claim"):
            assert setting(key) in claims, f"{name}: no mapper gives {setting(key)!r}"
    role_mappers = [m for m in mappers if m["protocolMapper"] == "oidc-usermodel-realm-role-mapper"]
    assert role_mappers and all(m["config"]["multivalued"] == "true" for m in role_mappers)
    assert {"organisation_oid", "ins"} <= claims


def test_demo_users_have_realm_roles_and_declared_attributes(realm: dict[str, Any]) -> None:
    roles = {r["name"] for r in realm["roles"]["realm"]}
    assert roles >= {"radiologist", "physician", "patient", "site-admin", "region-admin",
                     SITE_GATEWAY, REPOSITORY}
    profile = json.loads(realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
                         ["config"]["kc.user.profile.config"][0])
    declared = {a["name"] for a in profile["attributes"]}
    people = [u for u in realm["users"] if "serviceAccountClientId" not in u]
    assert {r for u in people for r in u["realmRoles"]} >= {"radiologist", "physician",
                                                            "patient", "region-admin"}
    for user in people:
        assert set(user["realmRoles"]) <= roles, user["username"]
        assert set(user.get("attributes", {})) <= declared, user["username"]
        if "patient" in user["realmRoles"]:
            assert user["attributes"]["ins"], user["username"]
        if {"radiologist", "physician"} & set(user["realmRoles"]):
            assert user["attributes"]["rpps"] and user["attributes"]["organisation_oid"]


def test_portal_client_is_confidential_with_pkce_and_the_portal_s_redirect(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    env = _environment(compose["services"]["portal"])
    client = _client(realm, env["PARTAGE_PORTAL_SIGNIN_CLIENT_ID"])
    public_url = env["PARTAGE_PORTAL_PUBLIC_URL"].rstrip("/")
    assert not client["publicClient"] and client["secret"] == env["PARTAGE_PORTAL_SIGNIN_CLIENT_SECRET"]
    assert client["standardFlowEnabled"] and not client["implicitFlowEnabled"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["redirectUris"] == [public_url + PORTAL_CALLBACK]
    assert client["attributes"]["post.logout.redirect.uris"] == public_url + "/"


def test_privacy_centre_client_is_confidential_with_pkce_and_its_own_redirect(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    env = _environment(compose["services"]["consent"])
    client = _client(realm, env["PARTAGE_CONSENT_SIGNIN_CLIENT_ID"])
    public_url = env["PARTAGE_CONSENT_PUBLIC_URL"].rstrip("/")
    assert not client["publicClient"]
    assert client["secret"] == env["PARTAGE_CONSENT_SIGNIN_CLIENT_SECRET"]
    assert client["standardFlowEnabled"] and not client["implicitFlowEnabled"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["redirectUris"] == [public_url + PORTAL_CALLBACK]
    assert client["attributes"]["post.logout.redirect.uris"] == public_url + "/"


def test_every_gateway_has_a_service_account_for_its_own_site(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    gateways = {name: env for name, (prefix, env) in _partage_environments(compose).items()
                if prefix == "PARTAGE_GATEWAY_"}
    assert len(gateways) == 2
    accounts = {u["serviceAccountClientId"]: u for u in realm["users"]
                if "serviceAccountClientId" in u}
    for name, env in gateways.items():
        client = _client(realm, env["PARTAGE_GATEWAY_CLIENT_ID"])
        assert client["serviceAccountsEnabled"] and not client["standardFlowEnabled"], name
        assert client["secret"] == env["PARTAGE_GATEWAY_CLIENT_SECRET"], name
        hardcoded = {m["config"]["claim.name"]: m["config"]["claim.value"]
                     for m in client["protocolMappers"]
                     if m["protocolMapper"] == "oidc-hardcoded-claim-mapper"}
        assert hardcoded["site"] == env["PARTAGE_GATEWAY_SITE_OID"], name
        assert hardcoded["organisation_oid"] == env["PARTAGE_GATEWAY_SITE_OID"], name
        assert accounts[client["clientId"]]["realmRoles"] == [SITE_GATEWAY], name


def test_the_repository_has_a_service_account_the_registry_trusts(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    env = _environment(compose["services"]["repository"])
    client = _client(realm, env["PARTAGE_REPOSITORY_CLIENT_ID"])
    assert client["serviceAccountsEnabled"] and not client["standardFlowEnabled"]
    assert client["secret"] == env["PARTAGE_REPOSITORY_CLIENT_SECRET"]
    [account] = [u for u in realm["users"] if u.get("serviceAccountClientId") == client["clientId"]]
    assert account["realmRoles"] == [REPOSITORY, SERVICE]  # a service: it sends its audits


def test_the_registry_and_the_portal_ask_consent_and_audit_as_services(
        compose: dict[str, Any], realm: dict[str, Any]) -> None:
    """Every service but the consent service itself asks its decision point (registry,
    gateways, portal) and sends it audit messages; the registry and the portal have service
    accounts of role ``service`` (the portal's distinct from its users' sign-in client)."""
    environments = _partage_environments(compose)
    accounts = {u["serviceAccountClientId"]: u for u in realm["users"]
                if "serviceAccountClientId" in u}
    for name, (prefix, env) in environments.items():
        if prefix == "PARTAGE_CONSENT_":
            continue
        assert env[f"{prefix}AUDIT_URL"] == "http://consent:8060/audit", name
        if prefix != "PARTAGE_REPOSITORY_":  # it only audits, and audits wait in a queue
            assert env[f"{prefix}CONSENT_URL"] == "http://consent:8060", name
            assert "consent" in compose["services"][name]["depends_on"], name
        if prefix in ("PARTAGE_REGISTRY_", "PARTAGE_PORTAL_"):
            client = _client(realm, env[f"{prefix}CLIENT_ID"])
            assert client["serviceAccountsEnabled"] and not client["standardFlowEnabled"]
            assert client["secret"] == env[f"{prefix}CLIENT_SECRET"], name
            assert accounts[client["clientId"]]["realmRoles"] == [SERVICE], name
    assert (environments["portal"][1]["PARTAGE_PORTAL_CLIENT_ID"]
            != environments["portal"][1]["PARTAGE_PORTAL_SIGNIN_CLIENT_ID"])
