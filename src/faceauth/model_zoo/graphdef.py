"""A minimal reader for TensorFlow's frozen ``GraphDef`` protobuf files, without TensorFlow.

It decodes the protobuf wire format directly and keeps only what a frozen inference graph needs:
node names, ops, inputs, attributes, and constant tensors as NumPy arrays. Field numbers follow
tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape}.proto."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# tensorflow DataType enum values we can meet in a frozen float graph
_DTYPES: dict[int, Any] = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}
_WIRE_VARINT, _WIRE_64BIT, _WIRE_BYTES, _WIRE_32BIT = 0, 1, 2, 5


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


def _varint(buffer: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, position


def _fields(buffer: memoryview) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value) for each field of one message."""
    position, end = 0, len(buffer)
    while position < end:
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == _WIRE_VARINT:
            value, position = _varint(buffer, position)
        elif wire == _WIRE_64BIT:
            value, position = buffer[position : position + 8], position + 8
        elif wire == _WIRE_BYTES:
            length, position = _varint(buffer, position)
            value, position = buffer[position : position + length], position + length
        elif wire == _WIRE_32BIT:
            value, position = buffer[position : position + 4], position + 4
        else:
            raise GraphFormatError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _packed_varints(value: Any, wire: int) -> list[int]:
    if wire == _WIRE_VARINT:
        return [_signed(value)]
    values, position = [], 0
    while position < len(value):
        item, position = _varint(value, position)
        values.append(_signed(item))
    return values


def _packed_floats(value: Any, wire: int) -> list[float]:
    raw = bytes(value)
    return (
        list(struct.unpack(f"<{len(raw) // 4}f", raw))
        if wire == _WIRE_BYTES
        else [struct.unpack("<f", raw)[0]]
    )


def _shape(buffer: memoryview) -> list[int]:
    dims: list[int] = []
    for number, _, value in _fields(buffer):
        if number == 2:  # dim
            size = 0
            for dim_number, _, dim_value in _fields(value):
                if dim_number == 1:
                    size = _signed(dim_value)
            dims.append(size)
    return dims


def _tensor(buffer: memoryview) -> np.ndarray:
    dtype_code, shape, content = 1, [], b""
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, value in _fields(buffer):
        if number == 1:
            dtype_code = value
        elif number == 2:
            shape = _shape(value)
        elif number == 4:
            content = bytes(value)
        elif number == 5:
            floats.extend(_packed_floats(value, wire))
        elif number in (7, 10):  # int_val, int64_val
            ints.extend(_packed_varints(value, wire))
    if dtype_code not in _DTYPES:
        raise GraphFormatError(f"unsupported tensor dtype {dtype_code}")
    dtype = np.dtype(_DTYPES[dtype_code])
    count = int(np.prod(shape)) if shape else 1
    if content:
        array = np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype)
    else:
        listed = floats if dtype.kind == "f" else ints
        array = np.array(listed, dtype=dtype)
        if array.size == 1 and count > 1:  # a splat: one value for the whole shape
            array = np.full(count, array[0], dtype=dtype)
    return array.reshape(shape)


def _attr_value(buffer: memoryview) -> Any:
    for number, _, value in _fields(buffer):
        if number == 1:  # list
            items: list[Any] = []
            for list_number, list_wire, list_value in _fields(value):
                if list_number == 2:
                    items.append(bytes(list_value).decode())
                elif list_number == 3:
                    items.extend(_packed_varints(list_value, list_wire))
                elif list_number == 4:
                    items.extend(_packed_floats(list_value, list_wire))
            return items
        if number == 2:
            return bytes(value).decode(errors="replace")
        if number == 3:
            return _signed(value)
        if number == 4:
            return struct.unpack("<f", bytes(value))[0]
        if number == 5:
            return bool(value)
        if number == 6:
            return int(value)
        if number == 7:
            return _shape(value)
        if number == 8:
            return _tensor(value)
    return None


def _node(buffer: memoryview) -> TFNode:
    node = TFNode(name="", op="")
    for number, _, value in _fields(buffer):
        if number == 1:
            node.name = bytes(value).decode()
        elif number == 2:
            node.op = bytes(value).decode()
        elif number == 3:
            node.inputs.append(bytes(value).decode())
        elif number == 5:  # map<string, AttrValue> entry
            key, attr = "", None
            for entry_number, _, entry_value in _fields(value):
                if entry_number == 1:
                    key = bytes(entry_value).decode()
                elif entry_number == 2:
                    attr = _attr_value(entry_value)
            node.attrs[key] = attr
    return node


def read_graph(data: bytes) -> list[TFNode]:
    """Parse a serialized ``GraphDef`` into its nodes, in file order."""
    try:
        nodes = [_node(value) for number, _, value in _fields(memoryview(data)) if number == 1]
    except (IndexError, struct.error, UnicodeDecodeError) as error:
        raise GraphFormatError("not a valid GraphDef protobuf") from error
    if not nodes or any(not node.op for node in nodes):
        raise GraphFormatError("GraphDef has no usable nodes")
    return nodes
