"""The one device check of biobft: a ``device=`` argument parsed and checked before any model
loads (:func:`check_device`), so CUDA on a CPU-only torch or a missing GPU index is one clear
error instead of a failure deep inside torch. The loaders (:mod:`biobft.models.loading`) and
:func:`biobft.embed.runtime.resolve_device` (which adds the CPU-only backends) call it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_device", "parse_device"]


def parse_device(device: Any):
    """Parse a ``device=`` argument without checking that it runs here.

    Parameters
    ----------
    device
        ``None``, a ``torch.device`` or a name such as ``"cpu"``, ``"cuda:1"`` (spaces around
        it and letter case are ignored: ``" CPU"`` is ``"cpu"``).

    Returns
    -------
    ``None`` or the :class:`torch.device`.

    Raises
    ------
    ValueError
        Neither a string nor a ``torch.device``, or a name torch does not know.
    """
    if device is None:
        return None
    import torch

    if not isinstance(device, (str, torch.device)):
        raise ValueError(
            f"device must be a name such as 'cpu', 'cuda', 'cuda:1' or 'mps' (or None); got "
            f"{device!r} ({type(device).__name__})"
        )
    try:
        return torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:<index>' or 'mps' (or None "
            "for the default)"
        ) from None


def check_device(device: Any) -> str | None:
    """Check a ``device=`` argument once, before any model loads; return it as a string.

    The one implementation of the device check: :func:`load_encoder`, :func:`load_causal_lm`
    and :func:`biobft.embed.runtime.resolve_device` (which adds the CPU-only backends) run it.

    Parameters
    ----------
    device
        ``None`` (the loader's default), a ``torch.device`` or a name such as ``"cpu"``,
        ``"cuda"``, ``"cuda:1"`` or ``"mps"``.

    Returns
    -------
    ``None`` or the device as a string (``"cuda:0"``, ``"cpu"``, ...).

    Raises
    ------
    ValueError
        Not a device name; CUDA or MPS that this torch build or machine does not have (with the
        fix); a CUDA index beyond the GPUs present; another device type (``"meta"``, ...).
    """
    dev = parse_device(device)
    if dev is None:
        return None
    import torch

    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA support (a CPU-only wheel)"
                if torch.version.cuda is None
                else "no CUDA GPU is visible (torch.cuda.is_available() is False)"
            )
            raise ValueError(
                f"device={str(device)!r} cannot be used: {why}; pass device='cpu' or None, or "
                "install a CUDA build of torch on a machine with an NVIDIA GPU"
            )
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(
                f"device={str(device)!r} does not exist: {n} CUDA device(s) are visible "
                f"(cuda:0 .. cuda:{n - 1}); pass one of them"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device={str(device)!r} cannot be used: MPS (Apple GPU) is not available here; "
                "pass device='cpu' or None"
            )
    elif dev.type != "cpu":
        raise ValueError(
            f"device={str(device)!r} is not supported: use 'cpu', 'cuda', 'cuda:<index>' or "
            "'mps' (or None)"
        )
    return str(dev)
