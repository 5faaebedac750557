"""Bearer JWT validation (partage.auth) against a real issuer served over HTTP
(tests.support.issuer): signature, issuer, audience, lifetime, algorithms, key rotation, and
the HTTP answers of the FastAPI dependency (RFC 6750)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import Depends, FastAPI
from joserfc import jwt

from partage.auth import (
    ClaimPaths,
    JwksCache,
    KeysUnavailable,
    Principal,
    TokenError,
    TokenValidator,
    bearer,
)
from partage.serve import background
from tests.support.issuer import Issuer, _signing_key


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer.running() as running:
        yield running


def validator_for(issuer: Issuer, **options: object) -> TokenValidator:
    return TokenValidator(issuer.url, "partage", JwksCache(issuer.url, **options))  # type: ignore[arg-type]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def claims_of(issuer: Issuer, **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": issuer.url, "sub": "dr-martin", "aud": "partage", "iat": now,
            "exp": now + 300, "roles": ["radiologist"], **extra}


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_valid_token_gives_the_principal(issuer: Issuer, alg: str) -> None:
    token = issuer.token(
        "dr-martin", ["radiologist"], alg=alg, rpps="10001234567", organisation="CHU Nord",
        purpose_of_use={"system": "urn:oid:2.16.840.1.113883.5.8", "code": "TREAT"},
        name="Claire Martin",
    )
    principal = validator_for(issuer).validate(token)
    assert principal == Principal("dr-martin", frozenset({"radiologist"}), "10001234567",
                                  "CHU Nord", "TREAT", "Claire Martin")


def test_keycloak_style_roles_and_jwt_type(issuer: Issuer) -> None:
    token = issuer.token(roles=[], typ="JWT", aud=["account", "partage"],
                         realm_access={"roles": ["physician", "offline_access"]})
    validator = TokenValidator(issuer.url, "partage", JwksCache(issuer.url),
                               claim_paths=ClaimPaths(roles="realm_access.roles"))
    assert validator.validate(token).roles == {"physician", "offline_access"}


def test_configured_jwks_url_skips_discovery(issuer: Issuer) -> None:
    validator = TokenValidator(issuer.url, "partage", JwksCache(issuer.url, f"{issuer.url}/jwks"))
    assert validator.validate(issuer.token()).subject == "dr-martin"


def test_forged_signature_is_refused(issuer: Issuer) -> None:
    forger = _signing_key("RSA")
    forged = issuer.token(key=forger)
    kid = issuer.keys["RSA"].kid
    header = json.loads(base64.urlsafe_b64decode(forged.split(".")[0] + "=="))
    header["kid"] = kid  # claims to be signed by the issuer's key
    _, payload, signature = forged.split(".")
    with pytest.raises(TokenError, match="bad_signature"):
        validator_for(issuer).validate(f"{b64(json.dumps(header).encode())}.{payload}.{signature}")


def test_tampered_claims_are_refused(issuer: Issuer) -> None:
    header, _, signature = issuer.token(roles=["patient"]).split(".")
    payload = b64(json.dumps(claims_of(issuer, roles=["region-admin"])).encode())
    with pytest.raises(TokenError, match="bad_signature"):
        validator_for(issuer).validate(f"{header}.{payload}.{signature}")


def test_token_of_another_issuer_is_refused(issuer: Issuer) -> None:
    with Issuer.running() as other:
        validator = validator_for(issuer)
        with pytest.raises(TokenError, match="no RSA key"):
            validator.validate(other.token(iss=issuer.url))  # its own keys, our name
        with pytest.raises(TokenError):
            # another issuer's token, even verified with its keys, names the wrong iss
            TokenValidator(issuer.url, "partage", JwksCache(other.url, f"{other.url}/jwks")
                           ).validate(other.token())


def test_wrong_audience_is_refused(issuer: Issuer) -> None:
    with pytest.raises(TokenError, match="aud"):
        validator_for(issuer).validate(issuer.token(aud="another-service"))


def test_expired_and_not_yet_valid_tokens_are_refused(issuer: Issuer) -> None:
    now = int(time.time())
    validator = validator_for(issuer)
    with pytest.raises(TokenError, match="expired"):
        validator.validate(issuer.token(exp=now - 120))
    with pytest.raises(TokenError, match="not yet valid"):
        validator.validate(issuer.token(nbf=now + 600))
    # within the leeway (clock skew) it passes
    assert validator.validate(issuer.token(exp=now - 5)).subject == "dr-martin"


def test_missing_exp_is_refused(issuer: Issuer) -> None:
    claims = claims_of(issuer)
    del claims["exp"]
    token = jwt.encode({"alg": "RS256", "kid": issuer.keys["RSA"].kid}, claims,
                       issuer.keys["RSA"], algorithms=["RS256"])
    with pytest.raises(TokenError, match="exp"):
        validator_for(issuer).validate(token)


def test_alg_none_is_refused(issuer: Issuer) -> None:
    token = unsigned({"alg": "none", "typ": "JWT"}, claims_of(issuer)) + "."
    with pytest.raises(TokenError, match="'none'"):
        validator_for(issuer).validate(token)


def test_hs256_keyed_with_the_public_key_is_refused(issuer: Issuer) -> None:
    public_pem = issuer.keys["RSA"].as_pem(private=False)
    signing_input = unsigned({"alg": "HS256", "kid": issuer.keys["RSA"].kid}, claims_of(issuer))
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="'HS256'"):
        validator_for(issuer).validate(f"{signing_input}.{b64(mac)}")


def test_other_token_types_are_refused(issuer: Issuer) -> None:
    with pytest.raises(TokenError, match="token type"):
        validator_for(issuer).validate(issuer.token(typ="logout+jwt"))


def test_rotated_key_is_fetched_on_unknown_kid(issuer: Issuer) -> None:
    validator = validator_for(issuer, min_refetch_s=0)
    assert validator.validate(issuer.token()).subject == "dr-martin"
    assert issuer.jwks_fetches == 1
    validator.validate(issuer.token())
    assert issuer.jwks_fetches == 1  # cached
    issuer.rotate("RSA")
    assert validator.validate(issuer.token(sub="after-rotation")).subject == "after-rotation"
    assert issuer.jwks_fetches == 2


def test_refetch_on_unknown_kid_is_rate_limited(issuer: Issuer) -> None:
    validator = validator_for(issuer, min_refetch_s=60)
    validator.validate(issuer.token())
    issuer.rotate("RSA")
    for _ in range(5):
        with pytest.raises(TokenError, match="no RSA key"):
            validator.validate(issuer.token())
    assert issuer.jwks_fetches == 1  # a flood of unknown kids does not hammer the issuer


def test_unreachable_jwks_is_keys_unavailable(issuer: Issuer) -> None:
    token = issuer.token()
    validator = validator_for(issuer)
    issuer.stop()
    with pytest.raises(KeysUnavailable):
        validator.validate(token)


def test_discovery_naming_another_issuer_is_refused(issuer: Issuer) -> None:
    alias = issuer.url.replace("127.0.0.1", "localhost")  # not byte-identical
    with pytest.raises(KeysUnavailable, match="names issuer"):
        TokenValidator(alias, "partage").validate(issuer.token(iss=alias))


# -- the FastAPI dependency over HTTP -------------------------------------------------------


def protected_app(validator: TokenValidator) -> FastAPI:
    app = FastAPI()

    authenticated = Depends(bearer(validator))

    @app.get("/whoami")
    def whoami(principal: Principal = authenticated) -> dict[str, object]:
        return {"sub": principal.subject, "roles": sorted(principal.roles)}

    return app


def test_bearer_dependency_over_http(issuer: Issuer) -> None:
    with background(protected_app(validator_for(issuer))) as service:
        url = f"{service.url}/whoami"
        ok = httpx.get(url, headers={"Authorization": f"Bearer {issuer.token()}"})
        assert ok.status_code == 200
        assert ok.json() == {"sub": "dr-martin", "roles": ["radiologist"]}

        missing = httpx.get(url)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="partage"'

        basic = httpx.get(url, headers={"Authorization": "Basic ZHI6cHc="})
        assert basic.status_code == 401
        assert 'error="invalid_request"' in basic.headers["www-authenticate"]

        expired = httpx.get(url, headers={
            "Authorization": f"Bearer {issuer.token(exp=int(time.time()) - 600)}"})
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_bearer_dependency_answers_503_when_the_issuer_is_down(issuer: Issuer) -> None:
    token = issuer.token()
    with background(protected_app(validator_for(issuer))) as service:
        issuer.stop()
        answer = httpx.get(f"{service.url}/whoami", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "30"
