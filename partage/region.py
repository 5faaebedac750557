"""The whole region on loopback as one object: the development OIDC provider, the consent
service (patients' policies, decision point, audit record repository, privacy centre), the
registry, the repository, imaging sites (an Orthanc PACS plus a gateway each) and the portal,
wired as in production (every service trusts the one issuer; services call each other with
client-credentials tokens; the registry, the gateways and the portal ask the consent service's
decision point and send it their audit messages). The demo, the portal's browser tests and
``partage bench portal`` start it with their own ports, sites and studies.

    with Region(data_dir, ports_for(SITES)) as region:
        region.feed(patients)
        region.set_policy("paul.durand", {"blocked_professionals": ["10007654321"]})  # as Paul
        region.start_site(SITES[0], specs)   # PACS loaded, gateway publishing
        region.start_portal()
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import httpx

from partage.consent import MAX_TTL_S
from partage.demo_sites import (
    DemoPatient, DemoSite, gateway_settings, load, orthanc_for, wait_published,
)
from partage.idp import (
    DEV_PORTAL_SECRET,
    DEV_PRIVACY_SECRET,
    PRIVACY_CLIENT,
    USERS_FILE,
    DevIdP,
    portal_client,
    service_client,
)
from partage.orthanc import Orthanc
from partage.serve import BackgroundServer, free_port
from partage.sources import REPOSITORY
from partage.studies import StudySpec

#: the client whose tokens the demo writes to files for curl (a site administrator's)
CLI_CLIENT = "partage-cli"
#: the repository's client: it forwards ITI-42 to the registry with its own token (and
#: sends its audit messages, as a ``service``)
REPOSITORY_CLIENT = "repository"
#: the registry's client: it asks the decision point and sends its audits
REGISTRY_CLIENT = "registry"
#: the portal's service client (distinct from ``partage-portal``, its users' sign-in client)
PORTAL_SERVICE_CLIENT = "partage-portal-service"
SERVICE = "service"


def ports_for(sites: Sequence[DemoSite], fixed: dict[str, int] | None = None) -> dict[str, int]:
    """Every port a region of ``sites`` listens on: ``fixed`` ones, free ones for the rest."""
    names = ["issuer", "consent", "registry", "repository", "mllp", "portal"]
    for site in sites:
        names += [f"{site.key}_{n}" for n in ("gateway", "gateway_dicom", "pacs_http",
                                               "pacs_dicom")]
    fixed = fixed or {}
    return {name: fixed.get(name) or free_port() for name in names}


class Region:
    """Start with ``with Region(...)`` (or ``start``/``stop``); then feed patients and start the
    sites and the portal. Everything stops in reverse order."""

    def __init__(self, data_dir: Path, ports: dict[str, int], sites: Sequence[DemoSite], *,
                 access_token_ttl_s: int = 900, consent_cache_s: float = MAX_TTL_S) -> None:
        """``consent_cache_s``: how long the registry, the gateways and the portal act on a
        decision (tests that change policies between requests use 0)."""
        self.data_dir = data_dir.resolve()
        self.ports = ports
        self.sites = {site.key: site for site in sites}
        self.access_token_ttl_s = access_token_ttl_s
        self.consent_cache_s = consent_cache_s
        self.gateway_secrets = {site.key: secrets.token_urlsafe(16) for site in sites}
        self.cli_secret = secrets.token_urlsafe(16)
        self.repository_secret = secrets.token_urlsafe(16)
        self.registry_secret = secrets.token_urlsafe(16)
        self.portal_service_secret = secrets.token_urlsafe(16)
        self._running = ExitStack()
        self.idp: DevIdP
        self.consent: BackgroundServer
        self.registry: BackgroundServer
        self.repository: BackgroundServer
        self.feed_token = ""
        self.orthancs: dict[str, Orthanc] = {}
        self.gateways: dict[str, BackgroundServer] = {}
        self.portal: BackgroundServer | None = None

    # -- life ------------------------------------------------------------------------------------
    def __enter__(self) -> Region:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['portal']}"

    @property
    def consent_url(self) -> str:
        """The consent service: decision point, policies, audit records, privacy centre."""
        return f"http://127.0.0.1:{self.ports['consent']}"

    @property
    def audit_url(self) -> str:
        """Where every service posts its audit messages (ITI-20 over HTTP)."""
        return f"{self.consent_url}/audit"

    def start(self) -> Region:
        """The IdP, the consent service, the registry (with the site directory filled in) and
        the repository."""
        from consent.core.config import ConsentSettings
        from consent.main import create_app as consent_app
        from registry.core.config import RegistrySettings
        from registry.main import create_app as registry_app
        from repository.core.config import RepositorySettings
        from repository.main import create_app as repository_app

        try:
            clients = [portal_client(self.portal_url),
                       portal_client(self.consent_url, PRIVACY_CLIENT, DEV_PRIVACY_SECRET),
                       service_client(CLI_CLIENT, self.cli_secret, ["site-admin"]),
                       service_client(REPOSITORY_CLIENT, self.repository_secret,
                                      [REPOSITORY, SERVICE]),
                       service_client(REGISTRY_CLIENT, self.registry_secret, [SERVICE]),
                       service_client(PORTAL_SERVICE_CLIENT, self.portal_service_secret,
                                      [SERVICE])]
            clients += [service_client(f"gateway-{key}", secret, ["site-gateway"],
                                       self.sites[key].oid)
                        for key, secret in self.gateway_secrets.items()]
            (self.data_dir / "idp").mkdir(parents=True, exist_ok=True)
            self.idp = DevIdP(self.data_dir / "idp", clients, port=self.ports["issuer"],
                              access_token_ttl_s=self.access_token_ttl_s).start()
            self._running.callback(self.idp.stop)
            registry_url = f"http://127.0.0.1:{self.ports['registry']}"
            self.consent = self._serve(consent_app(ConsentSettings(
                data_dir=self.data_dir / "consent", port=self.ports["consent"],
                issuer=self.idp.issuer, public_url=self.consent_url,
                signin_client_secret=DEV_PRIVACY_SECRET,
                registry_url=f"{registry_url}/registry", identity_url=f"{registry_url}/identity",
                log_json=False)), self.ports["consent"])
            registry_settings = RegistrySettings(
                data_dir=self.data_dir / "registry", port=self.ports["registry"],
                mllp_port=self.ports["mllp"], issuer=self.idp.issuer, log_json=False,
                consent_url=self.consent_url, consent_cache_s=self.consent_cache_s,
                audit_url=self.audit_url, client_id=REGISTRY_CLIENT, client_secret=self.registry_secret,
                token_url=self.idp.token_url)
            self.feed_token = registry_settings.feed_token
            self.registry = self._serve(registry_app(registry_settings), self.ports["registry"])
            repository_settings = RepositorySettings(
                data_dir=self.data_dir / "repository", port=self.ports["repository"],
                registry_url=f"{self.registry.url}/registry", issuer=self.idp.issuer,
                client_id=REPOSITORY_CLIENT, client_secret=self.repository_secret,
                token_url=self.idp.token_url, audit_url=self.audit_url, log_json=False)
            self.repository = self._serve(repository_app(repository_settings),
                                          self.ports["repository"])
            self.repository_unique_id = repository_settings.repository_unique_id
            self._register_sites()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._running.close()

    def _serve(self, app: object, port: int) -> BackgroundServer:
        server = BackgroundServer(app, port=port).start()  # type: ignore[arg-type]
        self._running.callback(server.stop)
        return server

    # -- identity --------------------------------------------------------------------------------
    def _register_sites(self) -> None:
        """The region's site directory: each gateway's repositoryUniqueId, RAD-69, WADO-RS."""
        with self._feed_client() as http:
            for site in self.sites.values():
                url = self.gateway_url(site.key)
                http.put(f"/identity/sites/{site.oid}", json={
                    "name": site.name, "repository_unique_id": site.repository_unique_id,
                    "rad69_url": f"{url}/rad69", "wado_rs_url": f"{url}/wado-rs",
                }).raise_for_status()

    def feed(self, patients: Iterable[DemoPatient]) -> None:
        """Each patient's regional ID with their local IDs at each site (the cross-reference
        the gateways ask before publishing)."""
        with self._feed_client() as http:
            for p in patients:
                http.put(f"/identity/patients/{quote(p.cx, safe='')}", json={
                    "family_name": p.family, "given_name": p.given, "birth_date": p.birth_date,
                    "sex": p.sex, "identifiers": [
                        {"authority": self.sites[key].local_authority, "local_id": local_id}
                        for key, local_id in p.local_ids if key in self.sites
                    ],
                }).raise_for_status()

    def _feed_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.registry.url, timeout=30,
                            headers={"Authorization": f"Bearer {self.feed_token}"})

    # -- sites -----------------------------------------------------------------------------------
    def gateway_url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{key}_gateway']}"

    def start_site(self, site: DemoSite, specs: Sequence[StudySpec], *,
                   sweep_days: int | None = None) -> int:
        """Start the site's PACS, store the studies it lacks (progress on stderr), then its
        gateway, whose sweep at start publishes them; how many studies were stored."""
        from gateway.main import create_app as gateway_app

        folder = self.data_dir / "sites" / site.key
        orthanc = orthanc_for(site, folder / "pacs", self.ports).start()
        self._running.callback(orthanc.stop)
        self.orthancs[site.key] = orthanc
        stored = load(orthanc, site, list(specs))
        settings = gateway_settings(
            site, folder / "gateway", self.ports, registry=self.registry.url,
            repository=self.repository.url, issuer=self.idp.issuer,
        ).model_copy(update={
            "client_id": f"gateway-{site.key}", "client_secret": self.gateway_secrets[site.key],
            "token_url": self.idp.token_url, "consent_url": self.consent_url,
            "consent_cache_s": self.consent_cache_s, "audit_url": self.audit_url,
            **({"sweep_days": sweep_days} if sweep_days is not None else {}),
        })
        self.gateways[site.key] = self._serve(gateway_app(settings), settings.port)
        return stored

    def admin_token(self) -> str:
        """A site administrator's access token (client credentials of ``partage-cli``)."""
        return self.idp.service_token(CLI_CLIENT, self.cli_secret)

    def service_token(self) -> str:
        """A region service's token (the portal's service client, role ``service``): the
        registry answers it unfiltered, as it answers the services."""
        return self.idp.service_token(PORTAL_SERVICE_CLIENT, self.portal_service_secret)

    def gateway_token(self, key: str) -> str:
        """Site ``key``'s gateway token (role site-gateway, its ``site``): what may submit
        documents of that site (ITI-41)."""
        return self.idp.service_token(f"gateway-{key}", self.gateway_secrets[key])

    # -- patients --------------------------------------------------------------------------------
    def user_token(self, login: str) -> str:
        """A demo user's access token (``deploy/idp/users.json``), signed in through the IdP's
        login page as the privacy centre's client (``partage-privacy``): a patient acting on
        their policy, the region administrator reading the audit records."""
        return self.idp.user_token(login, client_id=PRIVACY_CLIENT, secret=DEV_PRIVACY_SECRET,
                                   redirect_base=self.consent_url)

    def policy(self, login: str) -> dict[str, object]:
        """Demo patient ``login``'s current sharing policy, read as that patient."""
        return self._policy_call("GET", login)

    def set_policy(self, login: str, policy: Mapping[str, object]) -> dict[str, object]:
        """Write the sharing policy of demo patient ``login`` as that patient (so the version's
        author is the patient); the new version as the consent service returns it."""
        return self._policy_call("PUT", login, dict(policy))

    def _policy_call(self, method: str, login: str, body: dict[str, object] | None = None
                     ) -> dict[str, object]:
        answer = httpx.request(method, f"{self.consent_url}/patients/{patient_ins(login)}/policy",
                               json=body,
                               headers={"Authorization": f"Bearer {self.user_token(login)}"},
                               timeout=30)
        answer.raise_for_status()
        result: dict[str, object] = answer.json()
        return result

    def wait_published(self, key: str, expected: int, timeout: float = 120.0) -> dict[str, int]:
        return wait_published(self.gateway_url(key), self.admin_token(), expected, timeout)

    # -- portal ----------------------------------------------------------------------------------
    def start_portal(self, export_site: str | None = None) -> BackgroundServer:
        """The portal on its port, signing users in with the IdP; ``export_site``'s PACS is
        the one "send to PACS" stores into (the reading site's)."""
        from portal.core.config import PortalSettings
        from portal.main import create_app as portal_app

        export = ""
        if export_site is not None:
            site = self.sites[export_site]
            export = (f"{site.pacs_ae_title}@127.0.0.1:"
                      f"{self.ports[f'{export_site}_pacs_dicom']}")
        settings = PortalSettings(
            data_dir=self.data_dir / "portal", port=self.ports["portal"],
            public_url=self.portal_url, issuer=self.idp.issuer,
            signin_client_secret=DEV_PORTAL_SECRET, registry_url=f"{self.registry.url}/registry",
            identity_url=f"{self.registry.url}/identity",
            repository_url=f"{self.repository.url}/repository", export_pacs=export,
            consent_url=self.consent_url, consent_cache_s=self.consent_cache_s,
            audit_url=self.audit_url, privacy_url=f"{self.consent_url}/",
            client_id=PORTAL_SERVICE_CLIENT, client_secret=self.portal_service_secret,
            token_url=self.idp.token_url, log_json=False,
        )
        self.portal = self._serve(portal_app(settings), self.ports["portal"])
        return self.portal


def patient_ins(login: str, users_file: Path = USERS_FILE) -> str:
    """The INS of demo patient ``login`` (deploy/idp/users.json)."""
    for user in json.loads(users_file.read_text())["users"]:
        if user["login"] == login and user.get("ins"):
            return str(user["ins"])
    raise KeyError(f"no demo patient {login!r} in {users_file}")
