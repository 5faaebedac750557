"""The client credentials token source (partage.tokens) against the development issuer's token
endpoint over real HTTP: the token it gets is one our services accept, it is cached until
shortly before it expires (once for many threads), the endpoint is found by discovery, the
``resource`` names the audience, and refusals are ``TokenUnavailable`` with the RFC 6749 error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from partage.auth import JwksCache, TokenValidator
from partage.devissuer import DevIssuer
from partage.serve import free_port
from partage.tokens import ClientCredentials, TokenUnavailable


def source(issuer: DevIssuer, client_id: str, secret: str, **options: object
           ) -> ClientCredentials:
    return ClientCredentials(client_id, secret, token_url=f"{issuer.url}/token", **options)  # type: ignore[arg-type]


def test_token_is_accepted_by_a_service_and_carries_the_client(issuer: DevIssuer) -> None:
    secret = issuer.register_client("gateway-t1", roles=["service"], organisation="1.2.3")
    tokens = source(issuer, "gateway-t1", secret)
    principal = TokenValidator(issuer.url, "partage", JwksCache(issuer.url)).validate(
        tokens.token())
    assert (principal.subject, principal.roles, principal.organisation) == (
        "gateway-t1", {"service"}, "1.2.3")
    assert principal.claims["client_id"] == "gateway-t1"
    assert tokens.headers() == {"Authorization": f"Bearer {tokens.token()}"}
    tokens.close()


def test_cached_once_for_many_threads_then_renewed_near_expiry(issuer: DevIssuer) -> None:
    secret = issuer.register_client("gateway-t2", lifetime_s=300)
    tokens = source(issuer, "gateway-t2", secret)
    before = issuer.tokens_issued
    with ThreadPoolExecutor(8) as pool:
        got = set(pool.map(lambda _: tokens.token(), range(32)))
    assert len(got) == 1 and issuer.tokens_issued == before + 1
    tokens.forget()
    assert tokens.token() not in got and issuer.tokens_issued == before + 2
    # a token with less than the margin left is not used
    short = source(issuer, "gateway-t2", secret, margin_s=400)
    first = short.token()
    assert short.token() != first and issuer.tokens_issued == before + 4


def test_endpoint_found_by_discovery_and_resource_is_the_audience(issuer: DevIssuer) -> None:
    secret = issuer.register_client("gateway-t3", audiences=["urn:partage:registry"])
    tokens = ClientCredentials("gateway-t3", secret, issuer=issuer.url,
                               resource="urn:partage:registry")
    validator = TokenValidator(issuer.url, "urn:partage:registry", JwksCache(issuer.url))
    assert validator.validate(tokens.token()).subject == "gateway-t3"
    assert tokens.token_url == f"{issuer.url}/token"


@pytest.mark.parametrize(("client_id", "secret", "resource", "error"), [
    ("gateway-t4", "wrong", "", "invalid_client"),
    ("nobody", "x", "", "invalid_client"),
    ("gateway-t4", "right", "urn:elsewhere", "invalid_target"),
])
def test_refusals_are_token_unavailable(issuer: DevIssuer, client_id: str, secret: str,
                                        resource: str, error: str) -> None:
    issuer.register_client("gateway-t4", "right")
    with pytest.raises(TokenUnavailable, match=error):
        source(issuer, client_id, secret, resource=resource).token()


def test_unreachable_endpoint_and_other_grants(issuer: DevIssuer) -> None:
    with pytest.raises(TokenUnavailable):
        ClientCredentials("c", "s", token_url=f"http://127.0.0.1:{free_port()}/token").token()
    with pytest.raises(TokenUnavailable, match="404"):
        ClientCredentials("c", "s", issuer=f"{issuer.url}/elsewhere").token()
    with pytest.raises(TokenUnavailable, match="token endpoint"):  # issuer not byte-identical
        ClientCredentials("c", "s", issuer=f"{issuer.url}/").token()
    issuer.register_client("gateway-t5", "s5")
    answer = httpx.post(f"{issuer.url}/token", auth=("gateway-t5", "s5"),
                        data={"grant_type": "password", "username": "u", "password": "p"})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
    posted = httpx.post(f"{issuer.url}/token", data={
        "grant_type": "client_credentials", "client_id": "gateway-t5", "client_secret": "s5"})
    assert posted.status_code == 200 and posted.json()["token_type"] == "Bearer"
    with pytest.raises(ValueError):
        ClientCredentials("", "s", token_url="http://x/token")
