"""The memory roofline: bytes a decode step reads, the bandwidth achieved and its share of peak."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from torch import nn

from quantbench.run.memory import GB
from quantbench.run.roofline import copy_bandwidth_gbs, kv_bytes_per_step, roofline_metrics, weight_bytes_per_step
from quantbench.run.timing import FakeClock


class TinyLM(nn.Module):
    def __init__(self, tied: bool, vocab: int = 10, hidden: int = 4) -> None:
        super().__init__()
        self.config = SimpleNamespace(tie_word_embeddings=tied)
        self.embed = nn.Embedding(vocab, hidden)
        self.body = nn.Linear(hidden, hidden, bias=False)
        self.head = nn.Linear(hidden, vocab, bias=False)
        if tied:
            self.head.weight = self.embed.weight

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed


def test_untied_embedding_table_is_not_read_per_step() -> None:
    # embed 10x4, body 4x4, head 4x10, float32; a lookup reads one row, not the table
    assert weight_bytes_per_step(TinyLM(tied=False)) == (16 + 40) * 4


def test_tied_embedding_is_read_once_as_the_head() -> None:
    assert weight_bytes_per_step(TinyLM(tied=True)) == (40 + 16) * 4


def test_half_precision_untied() -> None:
    assert weight_bytes_per_step(TinyLM(tied=False).half()) == (16 + 40) * 2


def test_module_without_embeddings_counts_every_tensor() -> None:
    assert weight_bytes_per_step(nn.Linear(3, 2)) == (6 + 2) * 4


def test_kv_bytes_for_qwen25_05b() -> None:
    config = SimpleNamespace(num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                             hidden_size=896)
    # keys and values x 24 layers x 2 KV heads x head dim 64 x 2 bytes = 12288 bytes per token
    assert kv_bytes_per_step(config, batch=1, context=1, element_size=2) == 12288
    assert kv_bytes_per_step(config, batch=8, context=128, element_size=2) == 12288 * 128 * 8
    assert kv_bytes_per_step(config, batch=1, context=64 + 128 / 2, element_size=2) == 12288 * 128


def test_kv_bytes_explicit_head_dim_and_no_gqa() -> None:
    config = SimpleNamespace(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=None,
                             hidden_size=64, head_dim=32)
    assert kv_bytes_per_step(config, batch=1, context=10, element_size=4) == 2 * 2 * 4 * 32 * 10 * 4


def test_roofline_metrics() -> None:
    m = roofline_metrics(bytes_per_step=2e9, steps_per_s=100.0, peak_gbs=400.0)
    assert set(m) == {"decode_gb_per_step", "decode_bandwidth_gbs", "roofline_pct"}
    assert m["decode_gb_per_step"].median == 2.0
    assert m["decode_bandwidth_gbs"].median == 200.0
    assert m["roofline_pct"].median == 50.0
    for metric in m.values():
        assert metric.stop == "exact" and metric.n == 1 and metric.low == metric.high == metric.median
    assert (m["decode_gb_per_step"].unit, m["decode_bandwidth_gbs"].unit, m["roofline_pct"].unit) == ("GB", "GB/s", "%")
    assert m["decode_bandwidth_gbs"].higher_is_better is True
    assert m["decode_gb_per_step"].higher_is_better is False


@pytest.mark.parametrize("peak", [None, 0.0])
def test_no_peak_no_share(peak: float | None) -> None:
    assert set(roofline_metrics(1e9, 10.0, peak)) == {"decode_gb_per_step", "decode_bandwidth_gbs"}


def test_copy_bandwidth_counts_read_plus_write() -> None:
    class TickClock(FakeClock):
        """Each copy appears to take exactly 4 ms between its two marks."""

        def __init__(self) -> None:
            super().__init__()
            self.marks = 0

        def mark(self) -> float:
            self.marks += 1
            now = self.t_ms
            self.advance(4.0)
            return now

    clock = TickClock()
    nbytes = 1 << 20
    gbs = copy_bandwidth_gbs("cpu", clock, nbytes=nbytes, rounds=3)
    assert gbs == pytest.approx(2 * nbytes / 0.004 / GB, rel=1e-12)
    assert clock.marks == 6
    assert clock.syncs == 4  # once after the untimed first copy, then once per round
