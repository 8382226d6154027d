"""The OpenID Connect provider's endpoints for relying parties: ``protocol`` (discovery, keys, token,
userinfo, revocation) and ``translate`` (HTTP to and from the provider). Its pages for people
(authorize and consent, logout) are in ``web.pages.oidc``."""

from faceauth.web.oidc.protocol import router

__all__ = ["router"]
