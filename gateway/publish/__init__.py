"""Publishing (RAD-68): the regional lookups and messages the publisher needs, one module each.

``identity``: local → regional patient ID through the registry's cross-reference;
``registry``: ITI-18 lookups of what is registered and the ITI-57 deprecation request;
``manifest``: the KOS and its XDS-I.b metadata as one ITI-41 request.
"""
