"""Device selection."""

from __future__ import annotations

import contextlib

import pytest
import torch

from napari_blind_denoise.core import describe_device, pick_device
from napari_blind_denoise.core.device import (
    autocast,
    configure_threads,
    to_memory_format,
    use_amp,
)


def test_auto() -> None:
    dev = pick_device("auto")
    assert isinstance(dev, torch.device)
    assert dev.type in ("cpu", "cuda", "mps")
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    assert pick_device() == dev


@pytest.mark.parametrize("name", ["cpu", "CPU", "Cpu"])
def test_cpu(name: str) -> None:
    assert pick_device(name) == torch.device("cpu")


def test_exception_cuda_unavailable() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(ValueError, match="CUDA was requested"):
        pick_device("cuda")


@pytest.mark.parametrize("name", ["gpu", "tpu", "", "cuda:a", "mps:0"])
def test_exception_bad_name(name: str) -> None:
    with pytest.raises(ValueError, match="device must be one of"):
        pick_device(name)


def test_cuda_index_needs_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda:0")


def test_describe_cpu() -> None:
    assert describe_device(torch.device("cpu")).startswith("CPU (")


def test_no_amp_on_cpu() -> None:
    cpu = torch.device("cpu")
    assert use_amp(cpu) is False
    assert isinstance(autocast(cpu), contextlib.nullcontext)


def test_configure_threads() -> None:
    before = torch.get_num_threads()
    try:
        n = configure_threads()
        assert n >= 1
        assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)


def test_available_devices_lists_cpu_last_and_says_no_gpu(monkeypatch) -> None:
    import torch

    from napari_blind_denoise.core import device as dev

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    found = dev.available_devices()
    assert [c for c, _ in found] == ["cpu"]
    assert "no GPU found" in found[0][1]


def test_available_devices_names_a_cuda_gpu_first(monkeypatch) -> None:
    import torch

    from napari_blind_denoise.core import device as dev

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA Test GPU")
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    found = dev.available_devices()
    assert found[0] == ("cuda", "CUDA: NVIDIA Test GPU")
    assert found[-1][0] == "cpu" and "no GPU found" not in found[-1][1]


def test_to_memory_format_converts_the_weights_of_its_rank_only() -> None:
    """A 3-D network with a pixel-wise 2-D head (nnet's 3-D D-net and its N-net):
    ``Module.to(memory_format=channels_last_3d)`` refuses the 4-D weights."""
    model = torch.nn.ModuleDict({"d": torch.nn.Conv3d(2, 4, 3), "n": torch.nn.Conv2d(4, 4, 3)})
    with pytest.raises(RuntimeError):
        torch.nn.ModuleDict({"n": torch.nn.Conv2d(4, 4, 1)}).to(
            memory_format=torch.channels_last_3d)
    out = to_memory_format(model, torch.channels_last_3d)
    assert out is model
    assert model["d"].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not model["d"].weight.is_contiguous()
    assert model["n"].weight.is_contiguous()
    assert not model["n"].weight.is_contiguous(memory_format=torch.channels_last)
    to_memory_format(model, torch.channels_last)
    assert model["n"].weight.is_contiguous(memory_format=torch.channels_last)
    to_memory_format(model, torch.contiguous_format)
    assert model["d"].weight.is_contiguous() and model["n"].weight.is_contiguous()
