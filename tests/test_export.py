"""ONNX export (``pympas export``) and ONNX Runtime inference (``pympas segment model.onnx``)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from helpers.scenes import moving_blobs, write_video  # noqa: E402

import pympas  # noqa: E402
from pympas.cli import main  # noqa: E402
from pympas.config import TrainConfig  # noqa: E402
from pympas.export import OnnxModel, export_onnx  # noqa: E402
from pympas.files import read_mask  # noqa: E402
from pympas.model.checkpoint import load_model, write_checkpoint  # noqa: E402
from pympas.model.mpasnet import MPASNet  # noqa: E402


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    return moving_blobs(3)  # (3, 120, 160, 3) RGB


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, video):
    """A w18-small checkpoint (random weights) whose head is scaled to logits of standard
    deviation 5 on a frame, the range of a trained network (a fresh one gives +-0.01, where any
    error bound is met trivially), and shifted so that about half of the frame is crowd."""
    torch.manual_seed(0)
    model = MPASNet("w18-small").eval()
    with torch.inference_mode():
        x = torch.from_numpy(video[:1]).permute(0, 3, 1, 2).float() / 255
        scale = 5.0 / model(x).std()
        model.head.weight *= scale
        model.head.bias *= scale
        model.head.bias -= model(x).median()
    folder = tmp_path_factory.mktemp("run")
    state = {
        "format": "pympas-checkpoint",
        "model": model.state_dict(),
        "step": 7,
        "config": dataclasses.asdict(TrainConfig(arch="w18-small", out=str(folder))),
    }
    return write_checkpoint(state, folder, 7)


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    return export_onnx(checkpoint, tmp_path_factory.mktemp("onnx") / "model.onnx")


def test_export_writes_dynamic_axes_and_the_version_and_config_as_metadata(
    checkpoint, tmp_path, capsys
):
    out = tmp_path / "sub" / "m.onnx"
    assert main(["export", str(checkpoint), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    graph = onnx.load(str(out))
    onnx.checker.check_model(graph)
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["format"] == "pympas-onnx" and meta["pympas_version"] == pympas.__version__
    assert meta["arch"] == "w18-small" and meta["step"] == "7"
    assert json.loads(meta["config"])["arch"] == "w18-small"
    (inp,), (outp,) = graph.graph.input, graph.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "image" and dims == ["batch", 3, "height", "width"]
    dims = [d.dim_param or d.dim_value for d in outp.type.tensor_type.shape.dim]
    assert outp.name == "logits" and dims == ["batch", 1, "height", "width"]
    assert sorted(p.name for p in tmp_path.joinpath("sub").iterdir()) == ["m.onnx"]


@pytest.mark.parametrize("shape", [(1, 64, 64), (2, 96, 128), (3, 37, 50), (1, 160, 64)])
def test_onnx_runtime_logits_match_pytorch_within_1e_4(checkpoint, exported, shape):
    b, h, w = shape
    x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(h * w))
    with torch.inference_mode():
        expected = load_model(checkpoint)(x).numpy()
    got = OnnxModel(exported, device="cpu")(x.numpy())
    assert got.shape == expected.shape == (b, 1, h, w)
    assert np.abs(expected).max() > 5  # logits of a trained network's range
    assert np.abs(got - expected).max() < 1e-4


def test_masks_from_onnx_equal_the_checkpoints_except_within_1e_4_of_the_threshold(
    checkpoint, exported, video
):
    # ONNX Runtime runs fp32: compared with PyTorch in fp32
    ref = dict(pympas.segment(checkpoint, video, device="cpu", probabilities=True, amp="fp32"))
    onnx_p = dict(pympas.segment(exported, video, device="cpu", probabilities=True))
    onnx_m = dict(pympas.segment(exported, video, device="cpu"))
    torch_m = dict(pympas.segment(checkpoint, video, device="cpu", amp="fp32"))
    for i in range(len(video)):
        assert 0.2 < torch_m[i].mean() < 0.8  # edges on both sides of the threshold
        near = np.abs(ref[i] - 0.5) < 1e-4
        np.testing.assert_array_equal(onnx_m[i][~near], torch_m[i][~near])
        assert np.abs(onnx_p[i] - ref[i]).max() < 2.5e-5  # sigmoid' <= 1/4


def test_onnx_and_pytorch_agree_when_segmenting_at_several_scales(checkpoint, exported, video):
    ref = dict(pympas.segment(checkpoint, video, device="cpu", probabilities=True, amp="fp32",
                              scale=[1.0, 2.0]))  # fmt: skip
    got = dict(pympas.segment(exported, video, device="cpu", probabilities=True, scale=[1.0, 2.0]))
    one = dict(pympas.segment(checkpoint, video, device="cpu", probabilities=True, amp="fp32"))
    for i in range(len(video)):
        assert got[i].shape == video.shape[1:3]
        assert np.abs(got[i] - ref[i]).max() < 2.5e-5
        assert np.abs(ref[i] - one[i]).max() > 1e-2  # the second scale changes the answer


def test_segment_cli_runs_an_onnx_model_like_a_checkpoint(checkpoint, exported, tmp_path):
    path = tmp_path / "walk.avi"
    write_video(path, moving_blobs(4))
    for model, out in ((checkpoint, "a"), (exported, "b")):
        args = ["segment", str(model), str(path), "-o", str(tmp_path / out), "--device", "cpu"]
        code = main([*args, "--amp", "fp32"])  # ONNX Runtime runs fp32
        assert code == 0
    for i in range(4):
        a = read_mask(tmp_path / f"a/walk/{i:06d}.png")
        b = read_mask(tmp_path / f"b/walk/{i:06d}.png")
        assert (a != b).mean() < 1e-3  # only pixels at the threshold may differ


def test_onnx_inference_imports_no_torch_and_import_pympas_no_onnxruntime(exported):
    check = f"""
import sys
import numpy as np
import pympas, pympas.segmentation
assert "onnxruntime" not in sys.modules and "onnx" not in sys.modules
masks = [m for _, m in pympas.segment({str(exported)!r}, np.zeros((2, 40, 48, 3), np.uint8),
                                      device="cpu")]
assert len(masks) == 2 and masks[0].shape == (40, 48)
assert "onnxruntime" in sys.modules
assert "torch" not in sys.modules, "ONNX inference imported torch"
"""
    res = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_bad_onnx_files_and_devices_are_errors_naming_them(exported, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"ONNX model .*none\.onnx does not exist"):
        list(pympas.segment(tmp_path / "none.onnx", np.zeros((2, 8, 8, 3), np.uint8)))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ValueError, match=r"junk\.onnx: not an ONNX model ONNX Runtime can load"):
        OnnxModel(junk)
    other = tmp_path / "other.onnx"  # a valid ONNX model that pympas did not export
    node = onnx.helper.make_node("Identity", ["image"], ["logits"])
    io = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in "xy"]
    graph = onnx.helper.make_graph([node], "g", [io[0]], [io[1]])
    graph.input[0].name, graph.output[0].name = "image", "logits"
    onnx.save(onnx.helper.make_model(graph), str(other))
    with pytest.raises(ValueError, match=r"other\.onnx: not a model exported by pympas"):
        OnnxModel(other)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ValueError, match="no CUDA execution provider"):
            OnnxModel(exported, device="cuda")
    assert main(["segment", str(junk), str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    assert "junk.onnx: not an ONNX model" in capsys.readouterr().err


def test_export_of_a_file_that_is_no_checkpoint_names_it(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 64)
    assert main(["export", str(bad), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "bad.pt" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_the_crm_radius_of_the_training_labels_travels_into_the_onnx_model(
    checkpoint, exported, tmp_path
):
    assert "crm_radius" not in OnnxModel(exported, "cpu").metadata  # not recorded: absent
    assert OnnxModel(exported, "cpu").crm_radius is None
    state = torch.load(checkpoint, weights_only=False)
    ckpt = write_checkpoint({**state, "crm_radius": 10.0}, tmp_path / "run", 7)
    model = OnnxModel(export_onnx(ckpt, tmp_path / "r10.onnx"), "cpu")
    assert model.metadata["crm_radius"] == "10.0" and model.crm_radius == 10.0
