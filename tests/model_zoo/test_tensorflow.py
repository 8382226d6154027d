"""The ONNX FaceNet we translate must compute what the original TensorFlow graph computes. OpenCV's
cv2.dnn (the pinned version loads the graph) runs the original as the reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceauth.model_zoo import registry
from faceauth.model_zoo.graphdef import GraphFormatError, read_graph
from faceauth.model_zoo.sessions import create_session
from faceauth.model_zoo.tensorflow import convert_facenet_graph
from faceauth.vision.embedding import l2_normalise


@pytest.fixture(scope="module")
def graph_bytes() -> bytes:
    return registry.locate(registry.FACENET).read_bytes()


def test_reader_sees_the_frozen_inception_resnet(graph_bytes: bytes) -> None:
    nodes = read_graph(graph_bytes)
    ops = {node.op for node in nodes}
    assert {"Conv2D", "BiasAdd", "ConcatV2", "Placeholder"} <= ops
    weights = next(node for node in nodes if node.name == "InceptionResnetV1/Conv2d_1a_3x3/weights")
    assert weights.attrs["value"].shape == (3, 3, 3, 32)


def test_converted_model_matches_the_original_graph(graph_bytes: bytes) -> None:
    model = convert_facenet_graph(graph_bytes)
    session = create_session(model.SerializeToString(), threads=2)
    batch = np.random.default_rng(7).standard_normal((3, 3, 160, 160)).astype(np.float32)
    ours = l2_normalise(session.run(None, {"input": batch})[0])
    reference = cv2.dnn.readNetFromTensorflow(str(registry.locate(registry.FACENET)))
    for index in range(len(batch)):
        reference.setInput(batch[index : index + 1])
        expected = reference.forward().flatten()
        np.testing.assert_allclose(ours[index], expected, atol=1e-5)


def test_garbage_is_not_a_graph() -> None:
    with pytest.raises(GraphFormatError):
        convert_facenet_graph(b"\x0a\x03abc")
