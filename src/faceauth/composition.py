"""The one composition root: opens the database and builds every store, cipher and service once.

``faceauth.web.app.create_app`` (at start-up, in each worker) and the CLI build through here; no other
module constructs stores or services for the running application."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.service.accounts import AccountService
from faceauth.service.admin import AdminService
from faceauth.service.apps import AppService
from faceauth.service.devices import DeviceService
from faceauth.service.face_login import FaceLoginService
from faceauth.service.faces import BurstEmbedder, FaceService
from faceauth.service.liveness import LivenessService
from faceauth.service.lockout import LockoutService
from faceauth.service.oidc_clients import ClientService
from faceauth.service.oidc_provider import OidcProvider
from faceauth.service.oidc_signin import OidcComponents, PendingSignIns
from faceauth.service.operations import OperationsService
from faceauth.service.privacy import PrivacyService
from faceauth.service.ratelimits import RateLimitService
from faceauth.service.services import Services
from faceauth.service.tokens import TokenService
from faceauth.storage import file_modes
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.keys import check_production_settings, resolve_secret_key, resolve_template_key
from faceauth.storage.oidc_keys import Keyring
from faceauth.storage.stores import Stores, open_stores

if TYPE_CHECKING:
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.landmarks import FaceMesh
    from faceauth.vision.liveness import LivenessAnalyzer

logger = logging.getLogger(__name__)

# A retired OpenID Connect signing key stays published this long after its successor took over: every
# token it signed has expired by then, whichever lifetime settings were in force.
KEY_OVERLAP_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class VisionModels:
    """The loaded models: the face engine, and the liveness analyzer (None: challenges answer 503).
    Tests that check HTTP behaviour pass a stand-in engine and no analyzer."""

    engine: BurstEmbedder
    liveness: LivenessAnalyzer | None


def load_engine(settings: Settings) -> FaceEngine:
    """The face models load here, at start-up, never at import."""
    from faceauth.vision.engine import FaceEngine

    return FaceEngine.load(settings)


def load_liveness(settings: Settings, engine: FaceEngine, mesh: FaceMesh | None) -> LivenessAnalyzer | None:
    """The face mesh (loaded unless given) and the challenge analyzer. Without the mesh's model wheel:
    a ConfigurationError when liveness is required, otherwise None and a warning."""
    from faceauth.model_zoo.registry import ModelNotFoundError
    from faceauth.vision.landmarks import FaceMesh
    from faceauth.vision.liveness import LivenessAnalyzer, SamplingPolicy, default_signals

    if not settings.liveness_required:
        logger.warning(
            "FACEAUTH_LIVENESS_REQUIRED is false: enroll and verify accept plain bursts of frames, "
            "so a photo or a screen held up to the camera is not stopped by a liveness challenge"
        )
    if mesh is None:
        try:
            mesh = FaceMesh.load(threads=1, cache_dir=settings.models_dir)  # installed or fetched
        except ModelNotFoundError as error:
            if settings.liveness_required:
                raise ConfigurationError(f"liveness is required but {error}") from error
            logger.warning("liveness challenges unavailable: %s", error)
            return None
    sampling = SamplingPolicy(
        window_after_light=settings.liveness_sampling_window_frames,
        turn_min_deg=settings.liveness_turn_min_deg,
        neutral_max_deg=settings.liveness_neutral_max_deg,
        eyes_margin_deg=settings.liveness_eyes_margin_deg,
        light_eyes_every=settings.liveness_light_eyes_every,
    )
    return LivenessAnalyzer(engine, mesh, default_signals(), sampling=sampling)


def inference_concurrency(settings: Settings) -> int:
    """Face bursts processed at once per worker process: the setting, or one per core (0)."""
    from faceauth.model_zoo.sessions import default_threads

    return max(1, settings.inference_concurrency or default_threads())


def load_vision(
    settings: Settings, engine: FaceEngine | None = None, mesh: FaceMesh | None = None
) -> VisionModels:
    """The real models: ``engine`` and ``mesh`` when given (tests load them once per session)."""
    face_engine = engine if engine is not None else load_engine(settings)
    return VisionModels(face_engine, load_liveness(settings, face_engine, mesh))


def check_secrets(settings: Settings) -> None:
    """Production refuses missing secrets (the metrics token too, with metrics on); development
    generates its key files once (0600, in a data folder made 0700)."""
    check_production_settings(settings)
    if settings.is_production and settings.metrics_enabled and settings.metrics_token is None:
        raise ConfigurationError(
            "FACEAUTH_METRICS_ENABLED in production needs FACEAUTH_METRICS_TOKEN (a bearer token the "
            "scraper sends): /metrics tells who logs in how often"
        )
    file_modes.create_private_files(settings)
    resolve_secret_key(settings)
    resolve_template_key(settings)


def start_metrics(settings: Settings) -> None:
    """With metrics on, the vision pipeline's stage timings feed the inference histograms (vision
    itself knows no metrics library: ``faceauth.vision.timing``)."""
    if settings.metrics_enabled:
        from faceauth import metrics
        from faceauth.vision import timing

        timing.add_observer(metrics.observe_stage)


def stop_metrics(settings: Settings) -> None:
    """At a worker's shutdown: no more stage timings, and its live gauges leave the shared folder."""
    if settings.metrics_enabled:
        from faceauth import metrics
        from faceauth.vision import timing

        timing.remove_observer(metrics.observe_stage)
        metrics.worker_exiting()


def open_database(settings: Settings) -> Stores:
    """Every store over the SQL database, its schema brought up to date in development (production
    refuses to run on a schema that is behind). An SQLite file is created 0600 before SQLite opens it;
    private files that others can read are warned about."""
    file_modes.create_private_files(settings)
    stores = open_stores(settings.resolved_database_url)
    try:
        stores.prepare_schema(settings)
    except BaseException:
        stores.close()
        raise
    file_modes.warn_about_exposed_files(settings)
    return stores


def build_admin(stores: Stores, actor: str) -> AdminService:
    """The operator's account commands (``faceauth users``, ``faceauth face reset``); ``actor`` names
    who runs them in the audit log."""
    return AdminService(stores.storage, stores.admin, actor)


def build_services(settings: Settings, stores: Stores, vision: VisionModels) -> Services:
    """Every service, over one abuse store, one challenge store and one template cipher."""
    storage = stores.storage
    abuse_store = stores.abuse
    lockouts = LockoutService(abuse_store, settings)
    devices = DeviceService(resolve_secret_key(settings), settings)
    tokens = TokenService(resolve_secret_key(settings), storage, settings)
    cipher = TemplateCipher.from_settings(settings)
    faces = FaceService(vision.engine, storage, cipher, settings, lockouts)
    liveness = LivenessService(
        vision.liveness,
        stores.challenges,
        storage,
        settings,
        cipher=cipher,
        on_abandoned=faces.count_failed_liveness,  # a verify challenge left to expire is a failed attempt
    )
    oidc = build_oidc(settings, stores)
    return Services(
        settings=settings,
        accounts=AccountService(storage, settings, lockouts, devices),
        tokens=tokens,
        faces=faces,
        face_login=FaceLoginService(faces, liveness, tokens, settings, oidc.sign_ins),
        liveness=liveness,
        apps=AppService(storage),
        privacy=PrivacyService(storage),
        rate_limits=RateLimitService(abuse_store, settings),
        devices=devices,
        oidc=oidc,
        operations=OperationsService(stores.admin),
    )


def oidc_keyring(settings: Settings) -> Keyring:
    """The OpenID Connect signing keys (``faceauth oidc rotate-key`` adds one)."""
    lifetime = max(settings.oidc_id_token_ttl_seconds, settings.oidc_access_token_ttl_seconds)
    return Keyring(settings.resolved_oidc_keys_dir, lifetime + KEY_OVERLAP_MARGIN_SECONDS)


def check_oidc_settings(settings: Settings, keyring: Keyring) -> None:
    """Raises ConfigurationError for what production cannot run without: an https
    ``FACEAUTH_OIDC_ISSUER`` and a signing key made with ``faceauth oidc rotate-key`` (none is
    generated). In development, makes the first signing key when there is none (race-safe across
    workers)."""
    issuer = settings.oidc_issuer
    if issuer is not None:
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigurationError("FACEAUTH_OIDC_ISSUER must be a URL like https://auth.example.com")
        if issuer.endswith("/"):
            raise ConfigurationError("FACEAUTH_OIDC_ISSUER must not end with a slash")
    if settings.is_production:
        if issuer is None or not issuer.startswith("https://"):
            raise ConfigurationError("production mode: FACEAUTH_OIDC_ISSUER must be set to an https URL")
        keyring.signing_key()  # raises ConfigurationError naming `faceauth oidc rotate-key`
        return
    keyring.ensure_development_key()


def build_oidc(settings: Settings, stores: Stores) -> OidcComponents:
    """The OpenID Connect provider, its client administration and the pending sign-ins, after the
    start-up checks of ``check_oidc_settings``."""
    keyring = oidc_keyring(settings)
    check_oidc_settings(settings, keyring)
    return OidcComponents(
        provider=OidcProvider(settings, stores.oidc, stores.storage, keyring),
        clients=build_oidc_clients(stores),
        sign_ins=PendingSignIns(resolve_secret_key(settings), settings.oidc_login_timeout_seconds),
    )


def build_oidc_clients(stores: Stores) -> ClientService:
    """The relying parties' administration alone (``faceauth clients``: no signing key needed)."""
    return ClientService(stores.oidc, stores.storage)
