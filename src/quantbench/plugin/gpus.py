"""Which GPU each pytest-xdist worker gets: one of its own, never shared.

Two workers on one GPU would measure each other, so the controller lists the GPUs the workers may
use (``CUDA_VISIBLE_DEVICES``, else torch's count), refuses more workers than GPUs with one line,
and hands each starting worker a free one (``GpuPool``); a replacement for a crashed worker takes
the GPU its predecessor gave back. ``plugin.workers`` wires this into xdist's hooks.
"""

from __future__ import annotations

from typing import Callable, Mapping


class GpuPool:
    """The controller's GPUs, one per live worker; ``assigned`` remembers every worker's."""

    def __init__(self, gpus: list[str]) -> None:
        self.order = list(gpus)
        self.free = list(gpus)
        self.assigned: dict[str, str | None] = {}

    def take(self, worker: str) -> str | None:
        gpu = self.free.pop(0) if self.free else None
        self.assigned[worker] = gpu
        return gpu

    def give_back(self, worker: str) -> None:
        gpu = self.assigned.get(worker)
        if gpu is not None and gpu not in self.free:
            self.free = sorted([*self.free, gpu], key=self.order.index)


def visible_gpus(env: Mapping[str, str], count: Callable[[], int]) -> list[str]:
    """The GPUs the workers may use: ``CUDA_VISIBLE_DEVICES``' entries when it is set, else
    ``0 .. count()-1``."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(count())]


def cuda_count() -> int:
    """torch's GPU count (it does not create a CUDA context); 0 without CUDA."""
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # a torch without CUDA support, or a broken driver: no GPUs here
        return 0


def gpu_problem(device: str, gpus: list[str], workers: int) -> str | None:
    """Why ``workers`` workers cannot each have one of ``gpus`` (``None`` when they can)."""
    if device == "cpu" or (device == "auto" and not gpus) or len(gpus) >= workers:
        return None
    return (f"quantbench: -n {workers} starts {workers} workers but this host shows {len(gpus)} "
            f"GPU(s) ({','.join(gpus) or 'none'}); each worker needs a GPU of its own, so use "
            f"-n {len(gpus)} or -n auto")
