"""What a model source is once resolved, and the error a source that cannot be used raises.

The ground of ``sources``: ``resolve`` and ``gguf`` (and ``methods``) import these names, and this
module imports none of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

SYNTHETIC_PREFIX = "synthetic:"
GGUF_PREFIX = "gguf:"


class SourceError(ValueError):
    """A model source that cannot be used; the message is the one-line reason."""


@dataclass(frozen=True)
class ModelSource:
    """A resolved model source: what the user named, the path or id to load from, and what
    every case's notes must say about it (a GGUF reference is itself quantized)."""

    spec: str
    kind: str  # synthetic | local | hub | gguf
    location: str
    notes: tuple[str, ...] = ()

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"
