"""Authlib's server components, bound to faceauth: the models Authlib asks for, the authorization
code grant with OpenID Connect and mandatory PKCE S256, revocation and RP-initiated logout.

Authlib ships server integrations for Flask and Django only; this module is framework-free:
``HttpRequest`` is an Authlib ``OAuth2Request`` built from plain values (the web layer fills it from
a Starlette request) and ``FaceauthAuthorizationServer.handle_response`` returns a plain
``OAuthResponse`` the web layer turns into an HTTP answer. Everything protocol-shaped (parameter
validation, client authentication, PKCE comparison, ID token assembly, error responses) is
Authlib's; what faceauth decides (which clients exist, what a code and a token are bound to, which
claims a user has) goes through ``ProviderBackend``, implemented by ``service.oidc_provider``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.core.models import AuthorizationCodeMixin
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest

from faceauth.domain import User
from faceauth.storage.oidc_interface import AuthorizationCodeRecord, OidcClient

SUPPORTED_SCOPES = ("openid", "profile", "email", "phone")


class UnmetAuthenticationRequirementsError(OAuth2Error):  # type: ignore[misc]
    """OpenID Connect Unmet Authentication Requirements 1.0: the requested ``acr`` cannot be met."""

    error = "unmet_authentication_requirements"


@dataclass(frozen=True)
class OAuthResponse:
    status_code: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class SignInUser:
    """The end user of an authorization: the account and how its session was authenticated."""

    user: User
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]

    def get_user_id(self) -> int:  # Authlib reads this
        return self.user.id


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        lists: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            lists[key].append(value)
        self._lists = lists
        self._data = {key: values[0] for key, values in lists.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._lists


class HttpRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as Authlib reads it: method, the URL under the issuer, headers, query and form
    parameters (repeated parameters kept, so Authlib can refuse them)."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],  # case-insensitive lookups ("Authorization") are the caller's
        query: Sequence[tuple[str, str]],
        form: Sequence[tuple[str, str]],
        issuer: str,
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self.issuer = issuer
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload([*query, *form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class ProviderBackend(Protocol):
    """What the Authlib classes below need from faceauth (``service.oidc_provider``)."""

    def find_client(self, client_id: str) -> OidcClient | None: ...

    def check_client_secret(self, client: OidcClient, secret: str) -> bool: ...

    def save_code(self, code: str, request: HttpRequest, user: SignInUser) -> None: ...

    def redeem_code(self, code: str, client_id: str) -> AuthorizationCodeRecord | None: ...

    def nonce_used(self, client_id: str, nonce: str) -> bool: ...

    def code_user(self, record: AuthorizationCodeRecord) -> SignInUser | None: ...

    def access_token(self, request: HttpRequest, user: SignInUser, scope: str) -> dict[str, Any]: ...

    def record_token(self, token: dict[str, Any], request: HttpRequest) -> None: ...

    def user_info(self, user: User, scope: str) -> UserInfo: ...

    def id_token_signing(self) -> tuple[Any, str, str]:
        """(private key, alg, kid) of the current signing key."""
        ...

    def id_token_ttl_seconds(self) -> int: ...

    def find_token(self, token: str) -> TokenModel | None: ...

    def revoke_issued(self, token: TokenModel) -> None: ...

    def public_jwks(self) -> dict[str, Any]: ...

    def end_session(self, request: EndSessionRequest) -> None: ...


def backend_of(server: Any) -> ProviderBackend:
    backend: ProviderBackend = server.backend
    return backend


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


class ClientModel(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: OidcClient, backend: ProviderBackend) -> None:
        self.client = client
        self._backend = backend
        self.client_id = client.client_id
        self.client_metadata = {"post_logout_redirect_uris": list(client.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the redirect_uri parameter is always required

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = (scope or "").split()
        return " ".join(item for item in dict.fromkeys(requested) if item in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris  # exact match only

    def check_client_secret(self, client_secret: str) -> bool:
        return self._backend.check_client_secret(self.client, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class CodeModel(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, record: AuthorizationCodeRecord) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return int(self.record.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.record.acr

    def get_amr(self) -> list[str]:
        return list(self.record.amr)


@dataclass
class TokenModel(TokenMixin):  # type: ignore[misc]
    jti: str
    client_id: str
    scope: str

    def check_client(self, client: ClientModel) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope


# ------------------------------------------------------------------------------------------------
# Grant and extensions
# ------------------------------------------------------------------------------------------------


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """Code flow; public clients authenticate with PKCE alone (``none``)."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: HttpRequest) -> None:
        backend_of(self.server).save_code(code, request, request.user)

    def query_authorization_code(self, code: str, client: ClientModel) -> CodeModel | None:
        record = backend_of(self.server).redeem_code(code, client.get_client_id())
        return CodeModel(record) if record is not None else None

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        """Nothing to do: ``redeem_code`` spent the code atomically (it stays, marked used, so a
        replay is recognised)."""

    def authenticate_user(self, authorization_code: CodeModel) -> SignInUser | None:
        return backend_of(self.server).code_user(authorization_code.record)

    def generate_token(
        self,
        user: SignInUser | None = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        assert user is not None  # checked by create_token_response
        return backend_of(self.server).access_token(self.request, user, scope or "")


class RequiredS256(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only: the authorization request must carry a challenge (the
    library alone requires it only at the token endpoint, and only from public clients)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: CodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class FaceauthOpenIDCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, backend: ProviderBackend) -> None:
        super().__init__(require_nonce=False)
        self.backend = backend

    def exists_nonce(self, nonce: str, request: HttpRequest) -> bool:
        return self.backend.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: ClientModel) -> Any:
        return self.backend.id_token_signing()[0]

    def get_client_algorithm(self, client: ClientModel) -> str:
        return self.backend.id_token_signing()[1]

    def get_encode_header(self, client: ClientModel) -> dict[str, str]:
        _, alg, kid = self.backend.id_token_signing()
        return {"alg": alg, "kid": kid, "typ": "JWT"}

    def get_compatible_claims(self, request: HttpRequest) -> dict[str, Any]:
        now = int(datetime.now().timestamp())
        return {
            "iss": request.issuer,
            "aud": request.client.get_client_id(),
            "azp": request.client.get_client_id(),
            "iat": now,
            "exp": now + self.backend.id_token_ttl_seconds(),
        }

    def generate_user_info(self, user: SignInUser, scope: str) -> UserInfo:
        return self.backend.user_info(user.user, scope)


class FaceauthRevocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenModel | None:
        return backend_of(self.server).find_token(token_string)

    def revoke_token(self, token: TokenModel, request: HttpRequest) -> None:
        backend_of(self.server).revoke_issued(token)


class FaceauthEndSession(EndSessionEndpoint):  # type: ignore[misc]
    def get_server_jwks(self) -> dict[str, Any]:
        return backend_of(self.server).public_jwks()

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        backend_of(self.server).end_session(end_session_request)


class FaceauthAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, backend: ProviderBackend) -> None:
        super().__init__(scopes_supported=list(SUPPORTED_SCOPES))
        self.backend = backend
        self.register_grant(CodeGrant, [RequiredS256(required=True), FaceauthOpenIDCode(backend)])
        self.register_endpoint(FaceauthRevocation)
        self.register_endpoint(FaceauthEndSession)

    def query_client(self, client_id: str) -> ClientModel | None:
        client = self.backend.find_client(client_id)
        return ClientModel(client, self.backend) if client is not None else None

    def save_token(self, token: dict[str, Any], request: HttpRequest) -> None:
        self.backend.record_token(token, request)

    def create_oauth2_request(self, request: HttpRequest) -> HttpRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None
