"""The services bundle: every use case the web layer calls, built once by ``faceauth.composition``."""

from __future__ import annotations

from dataclasses import dataclass

from faceauth.config import Settings
from faceauth.service.accounts import AccountService
from faceauth.service.apps import AppService
from faceauth.service.face_login import FaceLoginService
from faceauth.service.faces import FaceService
from faceauth.service.liveness import LivenessService
from faceauth.service.privacy import PrivacyService
from faceauth.service.ratelimits import RateLimitService
from faceauth.service.tokens import TokenService


@dataclass(frozen=True)
class Services:
    settings: Settings
    accounts: AccountService
    tokens: TokenService
    faces: FaceService
    face_login: FaceLoginService
    liveness: LivenessService
    apps: AppService
    privacy: PrivacyService
    rate_limits: RateLimitService
