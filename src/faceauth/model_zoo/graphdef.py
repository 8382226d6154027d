"""Reading TensorFlow's frozen ``GraphDef`` files without TensorFlow, with protobuf.

The protobuf runtime (installed with onnx) parses the file against a schema declared here: the parts
of TensorFlow's GraphDef, NodeDef, AttrValue, TensorProto and TensorShapeProto messages a frozen
inference graph uses, with their field numbers from tensorflow/core/framework/*.proto. Fields we do
not declare (versions, devices, function libraries) are skipped by the parser. The result is a list
of ``TFNode``: names, ops, inputs, and attributes as plain Python values, constants as NumPy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

# tensorflow DataType enum values we can meet in a frozen float graph
_DTYPES: dict[int, Any] = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}

_F = descriptor_pb2.FieldDescriptorProto
# message -> fields as (name, number, type, repeated, message type name or "", oneof "value" member)
_SCHEMA: dict[str, list[tuple[str, int, int, bool, str, bool]]] = {
    "GraphDef": [("node", 1, _F.TYPE_MESSAGE, True, "NodeDef", False)],
    "NodeDef": [
        ("name", 1, _F.TYPE_STRING, False, "", False),
        ("op", 2, _F.TYPE_STRING, False, "", False),
        ("input", 3, _F.TYPE_STRING, True, "", False),
        ("attr", 5, _F.TYPE_MESSAGE, True, "NodeDef.AttrEntry", False),
    ],
    "NodeDef.AttrEntry": [
        ("key", 1, _F.TYPE_STRING, False, "", False),
        ("value", 2, _F.TYPE_MESSAGE, False, "AttrValue", False),
    ],
    "AttrValue": [
        ("list", 1, _F.TYPE_MESSAGE, False, "AttrValue.ListValue", True),
        ("s", 2, _F.TYPE_BYTES, False, "", True),
        ("i", 3, _F.TYPE_INT64, False, "", True),
        ("f", 4, _F.TYPE_FLOAT, False, "", True),
        ("b", 5, _F.TYPE_BOOL, False, "", True),
        ("type", 6, _F.TYPE_INT32, False, "", True),  # a DataType enum value
        ("shape", 7, _F.TYPE_MESSAGE, False, "TensorShapeProto", True),
        ("tensor", 8, _F.TYPE_MESSAGE, False, "TensorProto", True),
    ],
    "AttrValue.ListValue": [
        ("s", 2, _F.TYPE_BYTES, True, "", False),
        ("i", 3, _F.TYPE_INT64, True, "", False),
        ("f", 4, _F.TYPE_FLOAT, True, "", False),
    ],
    "TensorProto": [
        ("dtype", 1, _F.TYPE_INT32, False, "", False),
        ("tensor_shape", 2, _F.TYPE_MESSAGE, False, "TensorShapeProto", False),
        ("tensor_content", 4, _F.TYPE_BYTES, False, "", False),
        ("float_val", 5, _F.TYPE_FLOAT, True, "", False),
        ("int_val", 7, _F.TYPE_INT32, True, "", False),
        ("int64_val", 10, _F.TYPE_INT64, True, "", False),
    ],
    "TensorShapeProto": [("dim", 2, _F.TYPE_MESSAGE, True, "TensorShapeProto.Dim", False)],
    "TensorShapeProto.Dim": [("size", 1, _F.TYPE_INT64, False, "", False)],
}
_PACKAGE = "faceauth.tensorflow"


class GraphFormatError(ValueError):
    """The file is not a frozen GraphDef this reader understands."""


@dataclass
class TFNode:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def data_inputs(self) -> list[str]:
        """Inputs without control dependencies (``^name``) and without the ``:0`` output suffix."""
        return [name.split(":")[0] for name in self.inputs if not name.startswith("^")]


def _declare(file: descriptor_pb2.FileDescriptorProto, name: str) -> None:
    outer, _, inner = name.partition(".")
    parent = next((m for m in file.message_type if m.name == outer), None)
    if parent is None:
        parent = file.message_type.add(name=outer)
    declared = parent.nested_type.add(name=inner) if inner else parent
    if name.endswith("Entry"):
        declared.options.map_entry = True
    if any(in_oneof for *_, in_oneof in _SCHEMA[name]):
        declared.oneof_decl.add(name="value")
    for field_name, number, field_type, repeated, type_name, in_oneof in _SCHEMA[name]:
        declared_field = declared.field.add(name=field_name, number=number, type=field_type)
        declared_field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if type_name:
            declared_field.type_name = f".{_PACKAGE}.{type_name}"
        if in_oneof:
            declared_field.oneof_index = 0


@cache
def _graph_def_class() -> type[message.Message]:
    file = descriptor_pb2.FileDescriptorProto(name="faceauth_graphdef.proto", package=_PACKAGE)
    file.syntax = "proto3"
    for name in _SCHEMA:  # outer messages come before their nested ones
        _declare(file, name)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    graph_def: type[message.Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{_PACKAGE}.GraphDef")
    )
    return graph_def


def _shape(shape: Any) -> list[int]:
    return [int(dim.size) for dim in shape.dim]


def _tensor(tensor: Any) -> np.ndarray:
    if tensor.dtype not in _DTYPES:
        raise GraphFormatError(f"unsupported tensor dtype {tensor.dtype}")
    dtype = np.dtype(_DTYPES[tensor.dtype])
    shape = _shape(tensor.tensor_shape)
    count = int(np.prod(shape)) if shape else 1
    if tensor.tensor_content:
        array = np.frombuffer(tensor.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype)
    else:
        listed = list(tensor.float_val) if dtype.kind == "f" else [*tensor.int_val, *tensor.int64_val]
        array = np.array(listed, dtype=dtype)
        if array.size == 1 and count > 1:  # a splat: one value for the whole shape
            array = np.full(count, array[0], dtype=dtype)
    return array.reshape(shape)


def _attr_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "list":
        return [item.decode() for item in value.list.s] + list(value.list.i) + list(value.list.f)
    if kind == "s":
        return bytes(value.s).decode(errors="replace")
    if kind in ("i", "f", "b", "type"):
        return getattr(value, kind)
    if kind == "shape":
        return _shape(value.shape)
    if kind == "tensor":
        return _tensor(value.tensor)
    return None


def read_graph(data: bytes) -> list[TFNode]:
    """Parse a serialized ``GraphDef`` into its nodes, in file order."""
    try:
        graph: Any = _graph_def_class().FromString(data)
        nodes = [
            TFNode(
                name=node.name,
                op=node.op,
                inputs=list(node.input),
                attrs={key: _attr_value(value) for key, value in node.attr.items()},
            )
            for node in graph.node
        ]
    except (message.DecodeError, UnicodeDecodeError) as error:
        raise GraphFormatError("not a valid GraphDef protobuf") from error
    if not nodes or any(not node.op for node in nodes):
        raise GraphFormatError("GraphDef has no usable nodes")
    return nodes
