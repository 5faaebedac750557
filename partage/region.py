"""The whole region on loopback as one object: the development OIDC provider, the registry, the
repository, imaging sites (an Orthanc PACS plus a gateway each) and the portal, wired as in
production (every service trusts the one issuer; gateways publish with client-credentials
tokens). The demo, the portal's browser tests and ``partage bench portal`` start it with their
own ports, sites and studies.

    with Region(data_dir, ports_for(SITES)) as region:
        region.feed(patients)
        region.start_site(SITES[0], specs)   # PACS loaded, gateway publishing
        region.start_portal()
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import httpx

from partage.demo_sites import DemoPatient, DemoSite, gateway_settings, load, orthanc_for, wait_published
from partage.idp import DEV_PORTAL_SECRET, DevIdP, portal_client, service_client
from partage.orthanc import Orthanc
from partage.serve import BackgroundServer, free_port
from partage.sources import REPOSITORY
from partage.studies import StudySpec

#: the client whose tokens the demo writes to files for curl (a site administrator's)
CLI_CLIENT = "partage-cli"
#: the repository's client: it forwards ITI-42 to the registry with its own token
REPOSITORY_CLIENT = "repository"


def ports_for(sites: Sequence[DemoSite], fixed: dict[str, int] | None = None) -> dict[str, int]:
    """Every port a region of ``sites`` listens on: ``fixed`` ones, free ones for the rest."""
    names = ["issuer", "registry", "repository", "mllp", "portal"]
    for site in sites:
        names += [f"{site.key}_{n}" for n in ("gateway", "gateway_dicom", "pacs_http",
                                               "pacs_dicom")]
    fixed = fixed or {}
    return {name: fixed.get(name) or free_port() for name in names}


class Region:
    """Start with ``with Region(...)`` (or ``start``/``stop``); then feed patients and start the
    sites and the portal. Everything stops in reverse order."""

    def __init__(self, data_dir: Path, ports: dict[str, int], sites: Sequence[DemoSite], *,
                 access_token_ttl_s: int = 900) -> None:
        self.data_dir = data_dir.resolve()
        self.ports = ports
        self.sites = {site.key: site for site in sites}
        self.access_token_ttl_s = access_token_ttl_s
        self.gateway_secrets = {site.key: secrets.token_urlsafe(16) for site in sites}
        self.cli_secret = secrets.token_urlsafe(16)
        self.repository_secret = secrets.token_urlsafe(16)
        self._running = ExitStack()
        self.idp: DevIdP
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

    def start(self) -> Region:
        """The IdP, the registry (with the site directory filled in) and the repository."""
        from registry.core.config import RegistrySettings
        from registry.main import create_app as registry_app
        from repository.core.config import RepositorySettings
        from repository.main import create_app as repository_app

        try:
            clients = [portal_client(self.portal_url),
                       service_client(CLI_CLIENT, self.cli_secret, ["site-admin"]),
                       service_client(REPOSITORY_CLIENT, self.repository_secret, [REPOSITORY])]
            clients += [service_client(f"gateway-{key}", secret, ["site-gateway"],
                                       self.sites[key].oid)
                        for key, secret in self.gateway_secrets.items()]
            (self.data_dir / "idp").mkdir(parents=True, exist_ok=True)
            self.idp = DevIdP(self.data_dir / "idp", clients, port=self.ports["issuer"],
                              access_token_ttl_s=self.access_token_ttl_s).start()
            self._running.callback(self.idp.stop)
            registry_settings = RegistrySettings(
                data_dir=self.data_dir / "registry", port=self.ports["registry"],
                mllp_port=self.ports["mllp"], issuer=self.idp.issuer, log_json=False)
            self.feed_token = registry_settings.feed_token
            self.registry = self._serve(registry_app(registry_settings), self.ports["registry"])
            repository_settings = RepositorySettings(
                data_dir=self.data_dir / "repository", port=self.ports["repository"],
                registry_url=f"{self.registry.url}/registry", issuer=self.idp.issuer,
                client_id=REPOSITORY_CLIENT, client_secret=self.repository_secret, log_json=False)
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
            "token_url": self.idp.token_url,
            **({"sweep_days": sweep_days} if sweep_days is not None else {}),
        })
        self.gateways[site.key] = self._serve(gateway_app(settings), settings.port)
        return stored

    def admin_token(self) -> str:
        """A site administrator's access token (client credentials of ``partage-cli``)."""
        return self.idp.service_token(CLI_CLIENT, self.cli_secret)

    def gateway_token(self, key: str) -> str:
        """Site ``key``'s gateway token (role site-gateway, its ``site``): what may submit
        documents of that site (ITI-41)."""
        return self.idp.service_token(f"gateway-{key}", self.gateway_secrets[key])

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
            log_json=False,
        )
        self.portal = self._serve(portal_app(settings), self.ports["portal"])
        return self.portal
