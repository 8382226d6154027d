"""Translate a small TFLite model (such as MediaPipe's face mesh) to ONNX, with our own code.

MediaPipe's face-mesh model is a TFLite flatbuffer. Rather than install a TFLite runtime (or mediapipe
with its jax, sounddevice and opencv-contrib dependencies), we read the flatbuffer with the ``tflite``
package (Python accessors generated from TensorFlow's own schema.fbs, on the ``flatbuffers`` runtime
that onnxruntime already needs) and rebuild the same graph as ONNX, which ONNX Runtime runs. The
translation is ours; the package only reads the file.

Only what the MediaPipe face models use is supported: float32 graphs with float16 weights
(``DEQUANTIZE`` of constant buffers) and the operators ``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``PRELU``,
``ADD``, ``MAX_POOL_2D``, ``PAD``, ``RELU``, ``RESHAPE`` and ``CONCATENATION``. Anything else raises
:class:`UnsupportedModelError` rather than producing a wrong graph.

Layout: TFLite is NHWC, ONNX convolutions are NCHW. The graph input is transposed to NCHW once, 4-D
activations stay NCHW, and a tensor is transposed back to TFLite's layout only where an operator needs
it (reshape, concatenation) or at a graph output, so outputs have exactly the TFLite shapes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

logger = logging.getLogger(__name__)

# TFLite schema enums, as the ``tflite`` package (generated from TensorFlow's schema.fbs) names them.
_OP = tflite.BuiltinOperator
_SUPPORTED_OPS = {
    _OP.ADD: "ADD",
    _OP.CONCATENATION: "CONCATENATION",
    _OP.CONV_2D: "CONV_2D",
    _OP.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D",
    _OP.DEQUANTIZE: "DEQUANTIZE",
    _OP.MAX_POOL_2D: "MAX_POOL_2D",
    _OP.RELU: "RELU",
    _OP.RESHAPE: "RESHAPE",
    _OP.PAD: "PAD",
    _OP.PRELU: "PRELU",
}
_DTYPES: dict[int, np.dtype] = {
    tflite.TensorType.FLOAT32: np.dtype("<f4"),
    tflite.TensorType.FLOAT16: np.dtype("<f2"),
    tflite.TensorType.INT32: np.dtype("<i4"),
    tflite.TensorType.UINT8: np.dtype("u1"),
    tflite.TensorType.INT64: np.dtype("<i8"),
}
_ACTIVATION = tflite.ActivationFunctionType
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_TO_NHWC = (0, 2, 3, 1)
_OPSET = 13


class UnsupportedModelError(ValueError):
    """The TFLite model uses a feature this converter does not implement."""


# --- reading the flatbuffer (through the ``tflite`` package) --------------------------------------


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None  # constant contents, None for activations


@dataclass(frozen=True)
class _Op:
    code: int
    inputs: list[int]
    outputs: list[int]
    options: Any  # the operator's flatbuffer options table (tflite package object), or None

    def read_options(self, options_class: Any) -> Any:
        """The options as ``options_class`` (e.g. ``tflite.Conv2DOptions``)."""
        if self.options is None:
            raise UnsupportedModelError(f"{_SUPPORTED_OPS[self.code]} without its options")
        typed = options_class()
        typed.Init(self.options.Bytes, self.options.Pos)
        return typed


def _int_list(vector: Any) -> list[int]:
    """A flatbuffer int vector as a list (the generated accessors give 0 for an absent vector)."""
    return [] if isinstance(vector, int) else [int(v) for v in vector]


def _read(model: bytes) -> tuple[list[_Tensor], list[_Op], list[int], list[int]]:
    if model[4:8] != b"TFL3":
        raise UnsupportedModelError("not a TFLite flatbuffer (no TFL3 identifier)")
    root = tflite.Model.GetRootAsModel(model, 0)
    codes: list[int] = []
    for index in range(root.OperatorCodesLength()):
        operator_code = root.OperatorCodes(index)
        code = max(operator_code.DeprecatedBuiltinCode(), operator_code.BuiltinCode())
        if code not in _SUPPORTED_OPS:
            custom = (operator_code.CustomCode() or b"builtin").decode()
            raise UnsupportedModelError(f"operator code {code} ({custom}) unsupported")
        codes.append(code)
    buffers = [root.Buffers(index) for index in range(root.BuffersLength())]
    if root.SubgraphsLength() != 1:
        raise UnsupportedModelError(
            f"{root.SubgraphsLength()} subgraphs; only single-subgraph models supported"
        )
    graph = root.Subgraphs(0)
    tensors: list[_Tensor] = []
    for index in range(graph.TensorsLength()):
        tensor = graph.Tensors(index)
        if tensor.Type() not in _DTYPES:
            raise UnsupportedModelError(f"tensor type {tensor.Type()} unsupported")
        quantization = tensor.Quantization()
        if quantization is not None and quantization.ScaleLength():
            raise UnsupportedModelError("quantised tensors unsupported")
        dtype = _DTYPES[tensor.Type()]
        shape = tuple(_int_list(tensor.ShapeAsNumpy()))
        raw = buffers[tensor.Buffer()].DataAsNumpy()
        data = None if isinstance(raw, int) else raw.view(dtype).reshape(shape).copy()
        tensors.append(_Tensor(tensor.Name().decode(), shape, dtype, data))
    ops = [
        _Op(
            codes[op.OpcodeIndex()],
            _int_list(op.InputsAsNumpy()),
            _int_list(op.OutputsAsNumpy()),
            op.BuiltinOptions(),
        )
        for op in (graph.Operators(index) for index in range(graph.OperatorsLength()))
    ]
    return tensors, ops, _int_list(graph.InputsAsNumpy()), _int_list(graph.OutputsAsNumpy())


# --- graph building -------------------------------------------------------------------------------


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding for one spatial axis: the odd pixel goes at the end."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class _Builder:
    def __init__(self, tensors: list[_Tensor]) -> None:
        self.tensors = tensors
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.consts: dict[int, np.ndarray] = {
            i: t.data.astype(np.float32) if t.dtype == np.float16 else t.data
            for i, t in enumerate(tensors)
            if t.data is not None
        }
        self.nchw: dict[int, bool] = {}  # activation tensor index -> stored transposed to NCHW
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def name(self, index: int) -> str:
        return f"t{index}"

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.fresh(op_type), **attrs))

    def as_nchw(self, index: int) -> str:
        """The ONNX name of a 4-D activation in NCHW layout."""
        if index in self.consts:
            raise UnsupportedModelError(f"constant tensor {self.tensors[index].name} used as activation")
        if self.nchw[index]:
            return self.name(index)
        out = self.fresh("to_nchw")
        self.node("Transpose", [self.name(index)], [out], perm=list(_NHWC_TO_NCHW))
        return out

    def as_native(self, index: int) -> str:
        """The ONNX name of a tensor in TFLite's own layout."""
        if index in self.consts:
            return self.const(self.consts[index], "c")
        if not self.nchw[index]:
            return self.name(index)
        out = self.fresh("to_nhwc")
        self.node("Transpose", [self.name(index)], [out], perm=list(_NCHW_TO_NHWC))
        return out

    def activation(self, act: int, result: str, out_index: int) -> None:
        target = self.name(out_index)
        if act == _ACTIVATION.NONE:
            self.node("Identity", [result], [target])
        elif act == _ACTIVATION.RELU:
            self.node("Relu", [result], [target])
        elif act == _ACTIVATION.RELU6:
            lo = self.const(np.array(0.0, np.float32), "lo")
            hi = self.const(np.array(6.0, np.float32), "hi")
            self.node("Clip", [result, lo, hi], [target])
        else:
            raise UnsupportedModelError(f"fused activation {act} unsupported")

    def conv(self, op: _Op, depthwise: bool) -> None:
        o = op.read_options(tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
        padding, stride_w, stride_h = o.Padding(), o.StrideW(), o.StrideH()
        act, dil_w, dil_h = o.FusedActivationFunction(), o.DilationWFactor(), o.DilationHFactor()
        x, w_index = op.inputs[0], op.inputs[1]
        if w_index not in self.consts:
            raise UnsupportedModelError("convolution with non-constant weights unsupported")
        weights = self.consts[w_index]
        in_shape = self.tensors[x].shape  # NHWC
        if depthwise:  # TFLite [1, kh, kw, C*m] -> ONNX [C*m, 1, kh, kw], group = C
            onnx_w = weights.transpose(3, 0, 1, 2)
            group = in_shape[3]
        else:  # TFLite [O, kh, kw, I] -> ONNX [O, I, kh, kw]
            onnx_w = weights.transpose(0, 3, 1, 2)
            group = 1
        kh, kw = onnx_w.shape[2], onnx_w.shape[3]
        if padding == tflite.Padding.SAME:
            top, bottom = _same_pads(in_shape[1], kh, stride_h, dil_h)
            left, right = _same_pads(in_shape[2], kw, stride_w, dil_w)
        else:
            top = bottom = left = right = 0
        inputs = [self.as_nchw(x), self.const(onnx_w, "w")]
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            inputs.append(self.const(self.consts[op.inputs[2]].astype(np.float32), "b"))
        result = self.fresh("conv")
        self.node(
            "Conv",
            inputs,
            [result],
            kernel_shape=[kh, kw],
            strides=[stride_h, stride_w],
            dilations=[dil_h, dil_w],
            pads=[top, left, bottom, right],
            group=group,
        )
        self.nchw[op.outputs[0]] = True
        self.activation(act, result, op.outputs[0])

    def max_pool(self, op: _Op) -> None:
        o = op.read_options(tflite.Pool2DOptions)
        padding, stride_w, stride_h = o.Padding(), o.StrideW(), o.StrideH()
        fw, fh, act = o.FilterWidth(), o.FilterHeight(), o.FusedActivationFunction()
        in_shape = self.tensors[op.inputs[0]].shape
        if padding == tflite.Padding.SAME:
            # TFLite's SAME max-pool ignores padded cells; -inf-like padding does the same in ONNX.
            top, bottom = _same_pads(in_shape[1], fh, stride_h, 1)
            left, right = _same_pads(in_shape[2], fw, stride_w, 1)
        else:
            top = bottom = left = right = 0
        result = self.fresh("pool")
        self.node(
            "MaxPool",
            [self.as_nchw(op.inputs[0])],
            [result],
            kernel_shape=[fh, fw],
            strides=[stride_h, stride_w],
            pads=[top, left, bottom, right],
        )
        self.nchw[op.outputs[0]] = True
        self.activation(act, result, op.outputs[0])

    def add(self, op: _Op) -> None:
        a, b = op.inputs
        act = (
            op.read_options(tflite.AddOptions).FusedActivationFunction()
            if op.options is not None
            else _ACTIVATION.NONE
        )
        if len(self.tensors[op.outputs[0]].shape) == 4 and a not in self.consts and b not in self.consts:
            names = [self.as_nchw(a), self.as_nchw(b)]
            self.nchw[op.outputs[0]] = True
        else:
            names = [self.as_native(a), self.as_native(b)]
            self.nchw[op.outputs[0]] = False
        result = self.fresh("add")
        self.node("Add", names, [result])
        self.activation(act, result, op.outputs[0])

    def prelu(self, op: _Op) -> None:
        x, alpha_index = op.inputs
        alpha = self.consts[alpha_index].astype(np.float32)
        channels = self.tensors[x].shape[3]
        if alpha.size != channels:
            raise UnsupportedModelError("PRELU with a non per-channel slope unsupported")
        # PRelu(x) = Relu(x) + slope * Min(x, 0). ONNX Runtime's own PRelu kernel took 70% of the
        # face-mesh run time (2.5 of 3.7 ms); this form is bit-for-bit the same maths and 3x faster.
        slope = self.const(alpha.reshape(1, channels, 1, 1), "slope")
        zero = self.const(np.array(0.0, np.float32), "zero")
        source = self.as_nchw(x)
        positive, negative, scaled = self.fresh("pos"), self.fresh("neg"), self.fresh("scaled")
        self.node("Relu", [source], [positive])
        self.node("Min", [source, zero], [negative])
        self.node("Mul", [negative, slope], [scaled])
        self.node("Add", [positive, scaled], [self.name(op.outputs[0])])
        self.nchw[op.outputs[0]] = True

    def relu(self, op: _Op) -> None:
        x = op.inputs[0]
        if len(self.tensors[x].shape) == 4:
            self.node("Relu", [self.as_nchw(x)], [self.name(op.outputs[0])])
            self.nchw[op.outputs[0]] = True
        else:
            self.node("Relu", [self.as_native(x)], [self.name(op.outputs[0])])
            self.nchw[op.outputs[0]] = False

    def pad(self, op: _Op) -> None:
        x, pads_index = op.inputs[0], op.inputs[1]
        pads = self.consts[pads_index].astype(np.int64)  # [rank, 2] in NHWC order
        if pads.shape != (4, 2):
            raise UnsupportedModelError("PAD only on 4-D tensors supported")
        order = _NHWC_TO_NCHW
        onnx_pads = [int(pads[a, 0]) for a in order] + [int(pads[a, 1]) for a in order]
        self.node(
            "Pad",
            [self.as_nchw(x), self.const(np.array(onnx_pads, np.int64), "pads")],
            [self.name(op.outputs[0])],
            mode="constant",
        )
        self.nchw[op.outputs[0]] = True

    def reshape(self, op: _Op) -> None:
        shape = np.array(self.tensors[op.outputs[0]].shape, np.int64)
        self.node(
            "Reshape",
            [self.as_native(op.inputs[0]), self.const(shape, "shape")],
            [self.name(op.outputs[0])],
        )
        self.nchw[op.outputs[0]] = False

    def concat(self, op: _Op) -> None:
        o = op.read_options(tflite.ConcatenationOptions)
        axis, act = o.Axis(), o.FusedActivationFunction()
        result = self.fresh("concat")
        self.node("Concat", [self.as_native(i) for i in op.inputs], [result], axis=axis)
        self.nchw[op.outputs[0]] = False
        self.activation(act, result, op.outputs[0])


def tflite_to_onnx(model: bytes, graph_name: str = "converted") -> onnx.ModelProto:
    """Rebuild a float TFLite model as an ONNX model (opset 13) with the same inputs and outputs.

    Inputs and outputs keep their TFLite names, shapes (NHWC) and float32 type. Raises
    :class:`UnsupportedModelError` for any operator, tensor type or layout outside the supported set.
    """
    tensors, ops, inputs, outputs = _read(model)
    b = _Builder(tensors)
    graph_inputs = []
    for i in inputs:
        t = tensors[i]
        if t.dtype != np.float32:
            raise UnsupportedModelError("only float32 model inputs supported")
        graph_inputs.append(helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.shape)))
        b.node("Identity", [t.name], [b.name(i)])
        b.nchw[i] = False
    for op in ops:
        if op.code == _OP.DEQUANTIZE:
            if op.inputs[0] not in b.consts:
                raise UnsupportedModelError("DEQUANTIZE of an activation unsupported")
            b.consts[op.outputs[0]] = b.consts[op.inputs[0]].astype(np.float32)
        elif op.code in (_OP.CONV_2D, _OP.DEPTHWISE_CONV_2D):
            b.conv(op, depthwise=op.code == _OP.DEPTHWISE_CONV_2D)
        elif op.code == _OP.MAX_POOL_2D:
            b.max_pool(op)
        elif op.code == _OP.ADD:
            b.add(op)
        elif op.code == _OP.PRELU:
            b.prelu(op)
        elif op.code == _OP.RELU:
            b.relu(op)
        elif op.code == _OP.PAD:
            b.pad(op)
        elif op.code == _OP.RESHAPE:
            b.reshape(op)
        elif op.code == _OP.CONCATENATION:
            b.concat(op)
        else:  # pragma: no cover - _read rejects unknown codes
            raise UnsupportedModelError(f"operator {op.code} unsupported")
    graph_outputs = []
    for i in outputs:
        t = tensors[i]
        b.node("Identity", [b.as_native(i)], [t.name])
        graph_outputs.append(helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.shape)))
    graph = helper.make_graph(b.nodes, graph_name, graph_inputs, graph_outputs, b.initializers)
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="faceauth.model_zoo.tflite"
    )
    onnx_model.ir_version = 8  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(onnx_model)
    logger.debug("converted %s: %d TFLite ops -> %d ONNX nodes", graph_name, len(ops), len(b.nodes))
    return onnx_model
