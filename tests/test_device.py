"""One device resolver for every ``device=`` and ``--device``: pympas.device."""

from __future__ import annotations

import pytest

from pympas.device import is_cuda, parse_device, resolve_device


def test_specs_are_normalised_and_auto_follows_the_machine():
    assert resolve_device("CPU") == "cpu" and resolve_device(" cuda:1 ") == "cuda:1"
    torch = pytest.importorskip("torch")
    assert resolve_device(torch.device("cuda", 2)) == "cuda:2"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert is_cuda("auto") is torch.cuda.is_available()


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1", ""])
def test_unknown_devices_are_refused_naming_the_spec(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        resolve_device(bad)


def test_auto_is_refused_where_a_concrete_device_is_needed():
    with pytest.raises(ValueError, match="'auto'"):
        parse_device("auto")
    assert parse_device("auto", allow_auto=True) == "auto"


def test_a_device_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match="device must be"):
        resolve_device(0)


def test_a_cuda_device_without_cuda_is_refused_by_torch_device():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    from pympas.device import torch_device

    with pytest.raises(ValueError, match=r"'cuda'.*CUDA is not available"):
        torch_device("cuda")
    assert torch_device("auto") == torch.device("cpu")


def test_onnx_providers_follow_the_device_spec_without_torch():
    from pympas.device import onnx_providers

    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    assert onnx_providers("cpu", [cuda, cpu]) == [cpu]
    assert onnx_providers("auto", [cpu]) == [cpu]
    assert onnx_providers("auto", [cuda, cpu]) == [(cuda, {"device_id": 0}), cpu]
    assert onnx_providers("CUDA:1", [cuda, cpu]) == [(cuda, {"device_id": 1}), cpu]
    with pytest.raises(ValueError, match="'cuda:0' was asked for, but this onnxruntime has no"):
        onnx_providers("cuda:0", [cpu])
    with pytest.raises(ValueError, match="device must be"):
        onnx_providers("gpu", [cuda, cpu])
