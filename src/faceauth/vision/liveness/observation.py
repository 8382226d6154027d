"""What one challenge frame shows, kept between requests (as JSON) instead of the image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faceauth.domain import Embedding, RejectReason

Track = tuple[float, float, float, float]  # face-mesh crop: centre x, centre y, side (px), angle (rad)


@dataclass(frozen=True)
class FrameObservation:
    """What one challenge frame shows. ``received_s``: seconds after the challenge was issued, by the
    server's clock when the frame arrived (never a time the client reports).

    Not every frame runs every model (see :mod:`faceauth.vision.liveness.analyzer`): ``detected`` says
    whether the face detector (MTCNN) ran on this frame, so ``faces`` and ``reason`` are its findings;
    on a frame where it did not, the face mesh followed the face from the previous frame (``faces`` is
    1 and ``reason`` None). ``embedding`` is set on the frames chosen for the identity check and the
    match only (FaceNet's, for the identity check; ``model_vectors`` holds every served model's vector
    on the frames usable for matching), and neither is part of the JSON form: whoever keeps
    observations keeps them apart (the service encrypts them)."""

    received_s: float
    faces: int  # faces MTCNN found (1 on a tracked frame)
    reason: RejectReason | None = None  # first quality gate failed; None: usable for matching
    box: tuple[float, float, float, float] | None = None
    yaw_deg: float | None = None  # face mesh, + nose towards the image's right; None: the mesh found no face
    pitch_deg: float | None = None  # face mesh, + nose up
    ear: float | None = None  # mean eye aspect ratio of both eyes; None: not measured on this frame
    embedding: Embedding | None = field(default=None, compare=False, repr=False)  # FaceNet's (identity check)
    # The served models' vectors (and FaceNet's), on frames usable for matching only: what the match uses.
    model_vectors: dict[str, Embedding] = field(default_factory=dict, compare=False, repr=False)
    features: dict[str, list[float]] = field(default_factory=dict, compare=False, repr=False)
    served: bool = False  # the served models besides FaceNet embedded this frame (in model_vectors)
    skipped: bool = False  # not analysed (nothing is judged on it: StreamPlan.skipped); no pose, no face
    detected: bool = True  # MTCNN ran on this frame (False: the face was tracked from the last one)
    track: Track | None = None  # where the face mesh looks in the next frame; None: detect again
    # ``faceauth.vision.screen_light.LightSample.to_list()``: mean colours of face regions and the
    # background (18 floats; no image, nothing that identifies the person); None: no sample
    light: list[float] | None = field(default=None, compare=False, repr=False)

    @property
    def has_pose(self) -> bool:
        """The face mesh found the face (its eyes may not have been measured: ``ear``)."""
        return self.yaw_deg is not None

    @property
    def passes_gates(self) -> bool:
        """The detector found this one face and it passed every quality gate (embedded for the match;
        true of the stored JSON form too, which holds no embedding)."""
        return self.faces == 1 and self.detected and self.reason is None

    @property
    def usable_for_matching(self) -> bool:
        return self.passes_gates and self.embedding is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict for keeping between requests, without the embedding."""
        return {
            "t": self.received_s,
            "faces": self.faces,
            "reason": self.reason.value if self.reason else None,
            "box": list(self.box) if self.box else None,
            "yaw_deg": self.yaw_deg,
            "pitch_deg": self.pitch_deg,
            "ear": self.ear,
            "features": self.features,
            "served": self.served,
            "skipped": self.skipped,
            "detected": self.detected,
            "track": list(self.track) if self.track else None,
            "light": self.light,
        }

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        embedding: Embedding | None = None,
        model_vectors: dict[str, Embedding] | None = None,
    ) -> FrameObservation:
        """The observation back from ``to_json``, with the embeddings its keeper kept apart."""
        box = data.get("box")
        track = data.get("track")
        return cls(
            received_s=float(data["t"]),
            faces=int(data["faces"]),
            reason=RejectReason(data["reason"]) if data.get("reason") else None,
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            yaw_deg=data.get("yaw_deg"),
            pitch_deg=data.get("pitch_deg"),
            ear=data.get("ear"),
            embedding=embedding,
            model_vectors=dict(model_vectors or {}),
            features={name: [float(v) for v in values] for name, values in data.get("features", {}).items()},
            served=bool(data.get("served", False)),
            skipped=bool(data.get("skipped", False)),
            detected=bool(data.get("detected", True)),
            track=(float(track[0]), float(track[1]), float(track[2]), float(track[3])) if track else None,
            light=[float(v) for v in data["light"]] if data.get("light") else None,
        )
