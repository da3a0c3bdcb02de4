"""Giving device memory back between models, below everything that loads one.

Model sources, methods and the runner all free a model before the next reading or the next
method's weights; this helper sits at the bottom of the package so none of them has to import the
measuring layer (``run``) for it.
"""

from __future__ import annotations


def free_device_memory() -> None:
    """Collect garbage and give the CUDA caching allocator's free blocks back, so the next
    reading (or the next method's weights) starts from what is really still referenced."""
    import gc

    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
