"""The tests' token issuer: the real development issuer of ``partage.devissuer`` (discovery and
JWKS over HTTP, RSA and EC keys, rotation), under the names the tests use.

    with Issuer.running(audience="partage") as issuer:
        token = issuer.token(sub="dr-house", roles=["radiologist"])
"""

from __future__ import annotations

from partage.devissuer import DevIssuer as Issuer
from partage.devissuer import signing_key as _signing_key

__all__ = ["Issuer", "_signing_key"]
