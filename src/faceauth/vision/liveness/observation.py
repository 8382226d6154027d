"""What one challenge frame shows, kept between requests (as JSON) instead of the image."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceauth.domain import Embedding, RejectReason


@dataclass(frozen=True)
class FrameObservation:
    """What one challenge frame shows. ``received_s``: seconds after the challenge was issued, by the
    server's clock when the frame arrived (never a time the client reports)."""

    received_s: float
    faces: int  # faces MTCNN found
    reason: RejectReason | None = None  # first quality gate failed; None: usable for matching
    box: tuple[float, float, float, float] | None = None
    yaw_deg: float | None = None  # face mesh, + nose towards the image's right; None: the mesh found no face
    pitch_deg: float | None = None  # face mesh, + nose up
    ear: float | None = None  # mean eye aspect ratio of both eyes
    embedding: Embedding | None = field(default=None, compare=False, repr=False)
    features: dict[str, list[float]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_pose(self) -> bool:
        return self.yaw_deg is not None and self.ear is not None

    @property
    def usable_for_matching(self) -> bool:
        return self.faces == 1 and self.reason is None and self.embedding is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the embedding as base64 of float32), for keeping between requests."""
        return {
            "t": self.received_s,
            "faces": self.faces,
            "reason": self.reason.value if self.reason else None,
            "box": list(self.box) if self.box else None,
            "yaw_deg": self.yaw_deg,
            "pitch_deg": self.pitch_deg,
            "ear": self.ear,
            "emb": (
                base64.b64encode(np.asarray(self.embedding, np.float32).tobytes()).decode("ascii")
                if self.embedding is not None
                else None
            ),
            "features": self.features,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameObservation:
        emb = data.get("emb")
        box = data.get("box")
        return cls(
            received_s=float(data["t"]),
            faces=int(data["faces"]),
            reason=RejectReason(data["reason"]) if data.get("reason") else None,
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            yaw_deg=data.get("yaw_deg"),
            pitch_deg=data.get("pitch_deg"),
            ear=data.get("ear"),
            embedding=np.frombuffer(base64.b64decode(emb), dtype=np.float32).copy() if emb else None,
            features={name: [float(v) for v in values] for name, values in data.get("features", {}).items()},
        )
