"""The one composition root: opens the database and builds every store, cipher and service once.

``faceauth.web.app.create_app`` (at start-up, in each worker) and the CLI build through here; no other
module constructs stores or services for the running application."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.service.accounts import AccountService
from faceauth.service.apps import AppService
from faceauth.service.face_login import FaceLoginService
from faceauth.service.faces import BurstEmbedder, FaceService
from faceauth.service.liveness import LivenessService
from faceauth.service.lockout import LockoutService
from faceauth.service.privacy import PrivacyService
from faceauth.service.ratelimits import RateLimitService
from faceauth.service.services import Services
from faceauth.service.tokens import TokenService
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.keys import check_production_settings, resolve_secret_key, resolve_template_key
from faceauth.storage.stores import Stores, open_stores

if TYPE_CHECKING:
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.landmarks import FaceMesh
    from faceauth.vision.liveness import LivenessAnalyzer

logger = logging.getLogger(__name__)


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
    from faceauth.vision.liveness import LivenessAnalyzer, default_signals

    if not settings.liveness_required:
        logger.warning(
            "FACEAUTH_LIVENESS_REQUIRED is false: enroll and verify accept plain bursts of frames, "
            "so a photo or a screen held up to the camera is not stopped by a liveness challenge"
        )
    if mesh is None:
        try:
            mesh = FaceMesh.load(threads=1, cache_dir=settings.data_dir / "models")
        except ModelNotFoundError as error:
            if settings.liveness_required:
                raise ConfigurationError(f"liveness is required but {error}") from error
            logger.warning("liveness challenges unavailable: %s", error)
            return None
    return LivenessAnalyzer(engine, mesh, default_signals())


def load_vision(
    settings: Settings, engine: FaceEngine | None = None, mesh: FaceMesh | None = None
) -> VisionModels:
    """The real models: ``engine`` and ``mesh`` when given (tests load them once per session)."""
    face_engine = engine if engine is not None else load_engine(settings)
    return VisionModels(face_engine, load_liveness(settings, face_engine, mesh))


def check_secrets(settings: Settings) -> None:
    """Production refuses missing secrets; development generates its key files once."""
    check_production_settings(settings)
    resolve_secret_key(settings)
    resolve_template_key(settings)


def open_database(settings: Settings) -> Stores:
    """Every store over the SQL database, its schema brought up to date in development (production
    refuses to run on a schema that is behind)."""
    stores = open_stores(settings.resolved_database_url)
    try:
        stores.prepare_schema(settings)
    except BaseException:
        stores.close()
        raise
    return stores


def build_services(settings: Settings, stores: Stores, vision: VisionModels) -> Services:
    """Every service, over one abuse store, one challenge store and one template cipher."""
    storage = stores.storage
    abuse_store = stores.abuse
    lockouts = LockoutService(abuse_store, settings)
    tokens = TokenService(resolve_secret_key(settings), storage, settings)
    cipher = TemplateCipher.from_settings(settings)
    faces = FaceService(vision.engine, storage, cipher, settings, lockouts)
    liveness = LivenessService(vision.liveness, stores.challenges, storage, settings, cipher=cipher)
    return Services(
        settings=settings,
        accounts=AccountService(storage, settings, lockouts),
        tokens=tokens,
        faces=faces,
        face_login=FaceLoginService(faces, liveness, tokens, settings),
        liveness=liveness,
        apps=AppService(storage),
        privacy=PrivacyService(storage),
        rate_limits=RateLimitService(abuse_store, settings),
    )
