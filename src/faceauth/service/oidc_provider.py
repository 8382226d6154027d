"""The OpenID Connect provider: faceauth's rules around Authlib's protocol machinery.

- Sign-in needs a full-stage session (password, then face); the session's ``auth_time`` and whether
  a liveness challenge was passed become the ID token's ``auth_time``, ``acr`` and ``amr``.
- ``prompt=login``, ``max_age`` and a request for the liveness ``acr`` the session lacks send the
  user back through password and face (``NeedLogin``); the liveness ``acr`` on a server that does
  not require liveness is refused (``unmet_authentication_requirements``), never silently weakened.
- Codes: stored by SHA-256, short-lived, spent atomically; a replayed code revokes every token
  issued from it. Access tokens are signed JWTs (RFC 9068 ``at+jwt``) recorded by ``jti`` so they
  can be revoked (RFC 7009, the dashboard, a replayed code).
- Errors before the client and its redirect URI are known are shown to the user, never redirected."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oidc.core import UserInfo
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.rpinitiated import EndSessionRequest
from joserfc import jwt
from joserfc.errors import JoseError

from faceauth.config import Settings
from faceauth.domain import User
from faceauth.service.oidc_authlib import (
    SUPPORTED_SCOPES,
    FaceauthAuthorizationServer,
    HttpRequest,
    OAuthResponse,
    SignInUser,
    TokenModel,
    UnmetAuthenticationRequirementsError,
)
from faceauth.service.oidc_outcomes import (
    ErrorPage,
    NeedConsent,
    NeedLogin,
    Outcome,
    Respond,
    SessionInfo,
    SignedInApp,
)
from faceauth.service.passwords import verify_password
from faceauth.storage.oidc_interface import (
    AccountsAndAudit,
    AuthorizationCodeRecord,
    IssuedTokenRecord,
    OidcClient,
    OidcStore,
)
from faceauth.storage.oidc_keys import Keyring

logger = logging.getLogger(__name__)

ACR_FACE = "urn:faceauth:acr:face"  # password, then a face match
ACR_FACE_LIVENESS = "urn:faceauth:acr:face+liveness"  # password, then a face match in a liveness challenge
SIGNING_ALGORITHMS = ["RS256", "ES256"]
CODE_KEPT_AFTER_EXPIRY = timedelta(days=1)  # so that a late replay still finds its code


def session_acr_amr(liveness: bool) -> tuple[str, tuple[str, ...]]:
    if liveness:
        return ACR_FACE_LIVENESS, ("face", "liveness", "mfa", "pwd")
    return ACR_FACE, ("face", "mfa", "pwd")


def subject_of(user: User) -> str:
    """The ``sub`` claim: never reassigned, even when a database reuses a deleted account's id."""
    created = user.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return hashlib.sha256(f"faceauth-subject:{user.id}:{created}".encode()).hexdigest()[:32]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class OidcProvider:
    def __init__(
        self, settings: Settings, store: OidcStore, storage: AccountsAndAudit, keyring: Keyring
    ) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.keyring = keyring
        self.server = FaceauthAuthorizationServer(self)

    # --- authorization endpoint ---------------------------------------------------------------

    def authorize(
        self, request: HttpRequest, session: SessionInfo | None, reauth_since: datetime | None
    ) -> Outcome:
        """What to do with an authorization request: an error, the code, login, or consent."""
        evaluated = self._evaluate(request, session, reauth_since)
        if not isinstance(evaluated, tuple):
            return evaluated
        grant, end_user = evaluated
        scopes = tuple(request.scope.split())
        consent = self.store.get_consent(end_user.user.id, request.payload.client_id)
        prompts = request.payload.data.get("prompt", "").split()
        if "consent" in prompts or consent is None or not set(scopes) <= set(consent.scope.split()):
            if "none" in prompts:  # no page may be shown
                error = ConsentRequiredError(redirect_uri=grant.redirect_uri)
                return self._error(request, error)
            return NeedConsent(request.client.client.name, scopes, grant.redirect_uri)
        return Respond(self.server.create_authorization_response(request, grant_user=end_user, grant=grant))

    def decide(
        self, request: HttpRequest, session: SessionInfo | None, reauth_since: datetime | None, allow: bool
    ) -> Outcome:
        """The consent form's answer: the whole request is checked again, then a code or access_denied."""
        evaluated = self._evaluate(request, session, reauth_since)
        if not isinstance(evaluated, tuple):
            return evaluated
        grant, end_user = evaluated
        client_id = request.payload.client_id
        if allow:
            self.store.save_consent(end_user.user.id, client_id, request.scope, _now())
        self._event("oidc_consent", allow, end_user.user.id, client_id)
        grant_user = end_user if allow else None
        return Respond(self.server.create_authorization_response(request, grant_user=grant_user, grant=grant))

    def _evaluate(
        self, request: HttpRequest, session: SessionInfo | None, reauth_since: datetime | None
    ) -> Outcome | tuple[Any, SignInUser]:
        """Authlib validates the request (client, exact redirect URI, response type, scope, PKCE,
        nonce, prompt); then faceauth's own checks; then whether the session will do."""
        params = request.payload.data
        end_user = self._acceptable(session, params, reauth_since)
        try:
            grant = self.server.get_consent_grant(request, end_user=end_user)
            self._check_openid_request(grant.redirect_uri, params)
        except OAuth2Error as error:
            return self._error(request, error)
        if end_user is None:
            return NeedLogin()
        return grant, end_user

    def _acceptable(
        self, session: SessionInfo | None, params: dict[str, str], reauth_since: datetime | None
    ) -> SignInUser | None:
        """The end user, if the session satisfies the request; None when a (new) login is needed."""
        if session is None or not session.full or session.auth_time is None:
            return None
        now = _now()
        fresh = reauth_since is not None and session.auth_time >= reauth_since
        if "login" in params.get("prompt", "").split() and not fresh:
            return None
        max_age = params.get("max_age", "")
        if max_age.isdigit() and now - session.auth_time > timedelta(seconds=int(max_age)) and not fresh:
            return None
        wants_liveness = ACR_FACE_LIVENESS in params.get("acr_values", "").split()
        if wants_liveness and not session.liveness and self.settings.liveness_required:
            return None  # a liveness challenge can be had: go through it
        acr, amr = session_acr_amr(session.liveness)
        return SignInUser(user=session.user, auth_time=session.auth_time, acr=acr, amr=amr)

    def _check_openid_request(self, redirect_uri: str, params: dict[str, str]) -> None:
        if "openid" not in params.get("scope", "").split():
            raise InvalidScopeError("the openid scope is required", redirect_uri=redirect_uri)
        if params.get("max_age") and not params["max_age"].isdigit():
            raise InvalidRequestError("max_age must be a number of seconds", redirect_uri=redirect_uri)
        if params.get("request") or params.get("request_uri"):
            raise InvalidRequestError("request objects are not supported", redirect_uri=redirect_uri)
        if ACR_FACE_LIVENESS in params.get("acr_values", "").split() and not self.settings.liveness_required:
            raise UnmetAuthenticationRequirementsError(
                "this server does not require liveness, so it cannot assert " + ACR_FACE_LIVENESS,
                redirect_uri=redirect_uri,
            )

    def _error(self, request: HttpRequest, error: OAuth2Error) -> Outcome:
        error.state = request.payload.state
        if error.redirect_uri:  # set by Authlib only once the client and its redirect URI are valid
            return Respond(self.server.handle_error_response(request, error))
        return ErrorPage(400, error.description or error.error)

    # --- token, userinfo, revocation, logout --------------------------------------------------

    def token(self, request: HttpRequest) -> OAuthResponse:
        response: OAuthResponse = self.server.create_token_response(request)
        return response

    def revoke(self, request: HttpRequest) -> OAuthResponse:
        response: OAuthResponse = self.server.create_endpoint_response("revocation", request)
        return response

    def validate_end_session(self, request: HttpRequest) -> EndSessionRequest:
        """Raises OAuth2Error for a bad ``id_token_hint`` or a ``client_id`` that does not match it."""
        validated: EndSessionRequest = self.server.validate_endpoint_request("end_session", request)
        return validated

    def userinfo(self, access_token: str, issuer: str) -> dict[str, Any]:
        """The claims of a valid, unrevoked access token's user; OAuth2Error (401/403) otherwise."""
        claims = self._verified_access_token(access_token, issuer)
        record = self.store.get_token(str(claims.get("jti", "")))
        if record is None or record.revoked_at is not None:
            raise _invalid_token("the access token was revoked")
        user = self.storage.get_user(record.user_id)
        if user is None or subject_of(user) != claims.get("sub"):
            raise _invalid_token("the account no longer exists")
        if "openid" not in record.scope.split():
            raise _insufficient_scope()
        return dict(self.user_info(user, record.scope))

    def _verified_access_token(self, access_token: str, issuer: str) -> dict[str, Any]:
        try:
            token = jwt.decode(access_token, self.keyring.verification_keys(), algorithms=SIGNING_ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": issuer},
                exp={"essential": True},
                jti={"essential": True},
                sub={"essential": True},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError, KeyError, TypeError) as error:
            raise _invalid_token("the access token is not valid or has expired") from error
        if token.header.get("typ") != "at+jwt":
            raise _invalid_token("not an access token")
        return dict(token.claims)

    # --- the dashboard ------------------------------------------------------------------------

    def signed_in_apps(self, user_id: int) -> list[SignedInApp]:
        apps = []
        for consent in self.store.list_consents(user_id):
            client = self.store.get_client(consent.client_id)
            if client is not None:
                apps.append(
                    SignedInApp(
                        client.client_id,
                        client.name,
                        tuple(consent.scope.split()),
                        consent.granted_at,
                        consent.last_used_at,
                    )
                )
        return apps

    def revoke_app(self, user_id: int, client_id: str) -> bool:
        """Withdraws the consent and revokes the tokens the application holds for this user."""
        revoked = self.store.revoke_tokens_of(user_id, client_id, _now())
        removed = self.store.delete_consent(user_id, client_id)
        self._event("oidc_app_revoked", removed, user_id, client_id, f"tokens revoked: {revoked}")
        return removed

    # --- ProviderBackend (called by the Authlib classes) --------------------------------------

    def find_client(self, client_id: str) -> OidcClient | None:
        return self.store.get_client(client_id) if 0 < len(client_id) <= 64 else None

    def check_client_secret(self, client: OidcClient, secret: str) -> bool:
        return client.secret_hash is not None and verify_password(secret, client.secret_hash)

    def save_code(self, code: str, request: HttpRequest, user: SignInUser) -> None:
        now = _now()
        data = request.payload.data
        self.store.add_code(
            AuthorizationCodeRecord(
                code_hash=code_hash(code),
                client_id=request.payload.client_id,
                user_id=user.user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce") or None,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                auth_time=user.auth_time,
                acr=user.acr,
                amr=user.amr,
                issued_at=now,
                expires_at=now + timedelta(seconds=self.settings.oidc_code_ttl_seconds),
                used_at=None,
            )
        )
        self.store.touch_consent(user.user.id, request.payload.client_id, now)
        self.store.purge_expired_codes(now - CODE_KEPT_AFTER_EXPIRY)
        self._event("oidc_authorize", True, user.user.id, request.payload.client_id)

    def redeem_code(self, code: str, client_id: str) -> AuthorizationCodeRecord | None:
        """The code if it is this client's, unexpired and unused, and spends it. A second use
        revokes the tokens issued from it (RFC 6749 section 4.1.2)."""
        digest = code_hash(code)
        record = self.store.get_code(digest)
        now = _now()
        if record is None or record.client_id != client_id:
            return None
        if not self.store.spend_code(digest, now):
            revoked = self.store.revoke_tokens_of_code(digest, now)
            self._event("oidc_code_replayed", False, record.user_id, client_id, f"tokens revoked: {revoked}")
            return None
        if record.expires_at < now:
            return None
        return record

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        return self.store.nonce_used(client_id, nonce)

    def code_user(self, record: AuthorizationCodeRecord) -> SignInUser | None:
        user = self.storage.get_user(record.user_id)
        if user is None:
            return None
        return SignInUser(user=user, auth_time=record.auth_time, acr=record.acr, amr=record.amr)

    def access_token(self, request: HttpRequest, user: SignInUser, scope: str) -> dict[str, Any]:
        now = int(_now().timestamp())
        ttl = self.settings.oidc_access_token_ttl_seconds
        key = self.keyring.signing_key()
        claims = {
            "iss": request.issuer,
            "sub": subject_of(user.user),
            "aud": request.client.get_client_id(),
            "client_id": request.client.get_client_id(),
            "scope": scope,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + ttl,
            "auth_time": int(user.auth_time.timestamp()),
            "acr": user.acr,
            "amr": list(user.amr),
        }
        header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
        encoded = jwt.encode(header, claims, key.key, algorithms=[key.alg])
        return {"token_type": "Bearer", "access_token": encoded, "expires_in": ttl, "scope": scope}

    def record_token(self, token: dict[str, Any], request: HttpRequest) -> None:
        claims = self._verified_access_token(token["access_token"], request.issuer)
        code = request.authorization_code
        self.store.add_token(
            IssuedTokenRecord(
                jti=str(claims["jti"]),
                client_id=request.client.get_client_id(),
                user_id=code.record.user_id,
                scope=str(claims["scope"]),
                code_hash=code.record.code_hash,
                issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                revoked_at=None,
            )
        )
        self._event("oidc_token", True, code.record.user_id, request.client.get_client_id())

    def user_info(self, user: User, scope: str) -> UserInfo:
        info = UserInfo(
            sub=subject_of(user),
            name=user.name,
            preferred_username=user.username,
            email=user.email,
            email_verified=False,  # faceauth does not confirm email addresses
            phone_number=user.phone,
            phone_number_verified=False,
        )
        return info.filter(" ".join(item for item in scope.split() if item in SUPPORTED_SCOPES))

    def id_token_signing(self) -> tuple[Any, str, str]:
        key = self.keyring.signing_key()
        return key.key, key.alg, key.kid

    def id_token_ttl_seconds(self) -> int:
        return self.settings.oidc_id_token_ttl_seconds

    def find_token(self, token: str) -> TokenModel | None:
        try:
            header_and_claims = jwt.decode(
                token, self.keyring.verification_keys(), algorithms=SIGNING_ALGORITHMS
            )
        except (JoseError, ValueError, TypeError):
            return None  # RFC 7009: an invalid token is answered 200 all the same
        record = self.store.get_token(str(header_and_claims.claims.get("jti", "")))
        if record is None:
            return None
        return TokenModel(jti=record.jti, client_id=record.client_id, scope=record.scope)

    def revoke_issued(self, token: TokenModel) -> None:
        self.store.revoke_token(token.jti, _now())
        self._event("oidc_token_revoked", True, None, token.client_id)

    def public_jwks(self) -> dict[str, Any]:
        return self.keyring.public_jwks()

    def end_session(self, request: EndSessionRequest) -> None:
        """The web layer ends the faceauth session (cookie and token) itself."""

    def _event(self, kind: str, success: bool, user_id: int | None, client_id: str, extra: str = "") -> None:
        detail = f"client_id={client_id}" + (f"; {extra}" if extra else "")
        self.storage.record_event(kind, success=success, user_id=user_id, detail=detail)


def _now() -> datetime:
    return datetime.now(UTC)


def _invalid_token(description: str) -> OAuth2Error:
    error = OAuth2Error(description=description, status_code=401)
    error.error = "invalid_token"
    return error


def _insufficient_scope() -> OAuth2Error:
    error = OAuth2Error(description="the access token lacks the openid scope", status_code=403)
    error.error = "insufficient_scope"
    return error
