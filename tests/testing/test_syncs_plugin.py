"""The test-only sync plugin reads logits back once per forward and leaves outputs alone."""

from __future__ import annotations

import pytest
import torch

from quantbench.sources import materialize_synthetic
from quantbench.testing.syncs import add_syncs


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM

    folder = materialize_synthetic("qwen2-tiny", tmp_path_factory.mktemp("tiny"), 0)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def test_each_forward_reads_back_the_asked_number_of_elements(model, monkeypatch) -> None:
    reads: list[int] = []
    original = torch.Tensor.item

    def counted(self: torch.Tensor):
        reads.append(1)
        return original(self)

    ids = torch.arange(5, 21).unsqueeze(0)
    with torch.no_grad():
        before = model(input_ids=ids).logits
    add_syncs(model, 2)
    add_syncs(model, 2)  # hooking twice would double the reads
    monkeypatch.setattr(torch.Tensor, "item", counted)
    with torch.no_grad():
        after = model(input_ids=ids).logits
        model(input_ids=ids[:, :3])
    assert len(reads) == 4  # two forwards, two reads each
    assert torch.equal(before, after)
