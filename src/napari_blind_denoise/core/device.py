"""Device selection and precision policy."""

from __future__ import annotations

import contextlib
import os

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; a forced device (``cpu``, ``cuda``,
    ``cuda:N``, ``mps``) must exist.

    Raises
    ------
    ValueError
        Unknown name, or the requested accelerator is not available.
    """
    pref = str(preference).lower().strip()
    base, colon, index = pref.partition(":")
    if base not in DEVICE_CHOICES or (colon and (base != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be one of {DEVICE_CHOICES} or cuda:N, "
                         f"got {preference!r}")
    if index and torch.cuda.is_available() and int(index) >= torch.cuda.device_count():
        raise ValueError(f"{pref} was requested but torch sees "
                         f"{torch.cuda.device_count()} CUDA GPU(s)")
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but torch sees no CUDA GPU "
                         f"(torch {torch.__version__}; is this a CPU-only build?)")
    if pref == "mps" and not _mps_available():
        raise ValueError("Apple MPS was requested but is not available on this machine")
    return torch.device(pref)


def free_memory(device: torch.device) -> None:
    """Return cached accelerator memory to the driver (between phases, after an OOM)."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def device_free_bytes(device: torch.device) -> int | None:
    """Accelerator memory free for new allocations (CUDA: the driver's free memory; MPS: the
    recommended working set minus what the driver holds); ``None`` on the CPU or when the
    backend cannot say."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "mps" and hasattr(torch, "mps"):
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    except (RuntimeError, AttributeError):
        return None
    return None


def describe_device(device: torch.device) -> str:
    """Human-readable name, e.g. ``"CUDA: NVIDIA A100"`` or ``"CPU (4 threads)"``."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


def use_amp(device: torch.device) -> bool:
    """Mixed precision only on CUDA (MPS/CPU half precision is slower or unsupported)."""
    return device.type == "cuda"


def autocast(device: torch.device):
    """Autocast context for ``device``: float16 on CUDA, a no-op elsewhere."""
    if use_amp(device):
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def configure_threads() -> int:
    """Use every core the process may run on for intra-op CPU work; return the count."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        n = os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def available_devices() -> list[tuple[str, str]]:
    """``(choice, label)`` for every device this machine can use, best first, then ``cpu``.

    The labels say what was detected, e.g. ``("cuda", "CUDA: NVIDIA A100")`` or
    ``("cpu", "CPU (2 threads, no GPU found)")``, so an unused GPU is always visible.
    """
    found: list[tuple[str, str]] = []
    if torch.cuda.is_available():
        found.append(("cuda", describe_device(torch.device("cuda"))))
    if _mps_available():
        found.append(("mps", "Apple MPS"))
    cpu = describe_device(torch.device("cpu"))
    if not found:
        cpu = cpu[:-1] + ", no GPU found)"
    return [*found, ("cpu", cpu)]


def memory_format(dims: int | str, channels_last: bool = True) -> torch.memory_format:
    """The memory format of a network's batches: channels-last when asked (faster
    convolutions on CPU; ``channels_last_3d`` for 3-D networks, about twice as fast as
    contiguous on a 2-core CPU), else contiguous."""
    if not channels_last:
        return torch.contiguous_format
    return torch.channels_last_3d if dims == 3 else torch.channels_last


def to_memory_format(model: torch.nn.Module, fmt: torch.memory_format) -> torch.nn.Module:
    """``model`` (in place) with its weights in ``fmt``: for a channels-last format only
    those of its rank (4-D for ``channels_last``, 5-D for ``channels_last_3d``), the others
    kept as they are (``Module.to`` refuses them), e.g. the pixel-wise 2-D N-net of a 3-D
    ``nnet`` model."""
    rank = {torch.channels_last: 4, torch.channels_last_3d: 5}.get(fmt)
    if rank is None:
        return model.to(memory_format=fmt)
    with torch.no_grad():
        for t in (*model.parameters(), *model.buffers()):
            if t.dim() == rank:
                t.data = t.data.contiguous(memory_format=fmt)
    return model
