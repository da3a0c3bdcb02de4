"""Output quality of a quantized method against the FP16 reference.

Two checks, both relative to FP16 on the same prompts:

* **token agreement**: the fraction of greedy continuation tokens the method produces that equal
  FP16's, position by position (after the first mismatch the texts usually differ, so this is
  strict on purpose);
* **top-1 agreement**: teacher-forced on FP16's own prompt + continuation, the fraction of
  positions where the method's most likely next token is FP16's (llama.cpp's "same top p" of
  ``perplexity --kl-divergence``): one early flip does not count every later token as lost;
* **KL divergence**: mean KL(P_fp16 || P_method) of the next-token distributions, teacher-forced
  on FP16's own prompt + continuation so that every position of both models sees the same text.

FP16 runs once per session: :meth:`QualityReference.capture` keeps its prompt, continuation and
the logits of the continuation positions on the CPU, so the FP16 model can be freed before the
next method loads. Perplexity on a plain text is also here, for runs with a real tokenizer.

The math works in float64, in chunks of rows, so a 150k vocabulary never needs a float64 copy
of a whole batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterator

import torch
from torch import Tensor

from quantbench.catalog import spec
from quantbench.results import Metric
from quantbench.run.engine import HFEngine
from quantbench.run.prompts import Prompt

_ROWS_PER_CHUNK = 64


# --- pure math ---------------------------------------------------------------------------------


def token_agreement(reference: Tensor, tokens: Tensor, n: int | None = None) -> float:
    """Fraction of positions, over the first ``n`` new tokens of every sequence (all when
    ``None``), where ``tokens`` equals the reference's greedy token. Both are ``[B, N]``."""
    _check_tokens(reference, tokens)
    width = reference.shape[1] if n is None else n
    if not 0 < width <= reference.shape[1]:
        raise ValueError(f"n must be in 1..{reference.shape[1]}, got {n}")
    same = reference[:, :width].cpu() == tokens[:, :width].cpu()
    return int(same.sum()) / same.numel()


def top1_agreement(reference_logits: Tensor, logits: Tensor) -> float:
    """Fraction of positions of two ``[B, T, V]`` logit tensors whose argmax is the same token."""
    if reference_logits.dim() != 3 or reference_logits.shape != logits.shape:
        raise ValueError(f"logits must both be [B, T, V] of one shape, got "
                         f"{tuple(reference_logits.shape)} and {tuple(logits.shape)}")
    if reference_logits.shape[0] * reference_logits.shape[1] == 0:
        raise ValueError("logits hold no positions")
    same = reference_logits.argmax(-1).cpu() == logits.argmax(-1).cpu()
    return int(same.sum()) / same.numel()


def mean_kl(reference_logits: Tensor, logits: Tensor, mask: Tensor | None = None) -> float:
    """Mean over positions of KL(P_ref || P) in nats, each distribution the softmax of its
    ``[B, T, V]`` logits. ``mask`` (``[B, T]``, nonzero = counted) picks the positions. A
    reference with NaN or +inf logits (a broken FP16 model) gives NaN, which fails the quality
    gate: the ``p > 0`` filter that drops masked (-inf) tokens would otherwise drop every term
    and report a perfect 0."""
    if reference_logits.dim() != 3 or reference_logits.shape != logits.shape:
        raise ValueError(f"logits must both be [B, T, V] of one shape, got "
                         f"{tuple(reference_logits.shape)} and {tuple(logits.shape)}")
    vocab = reference_logits.shape[-1]
    ref_rows = reference_logits.reshape(-1, vocab)
    rows = logits.reshape(-1, vocab).to(ref_rows.device)
    index = _positions(reference_logits.shape[:2], mask, ref_rows.device)
    total = 0.0
    for chunk in _chunks(index):
        log_p = torch.log_softmax(ref_rows.index_select(0, chunk).double(), dim=-1)
        if bool(torch.isnan(log_p).any()):
            return math.nan
        log_q = torch.log_softmax(rows.index_select(0, chunk).double(), dim=-1)
        p = log_p.exp()
        terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
        total += float(terms.sum())
    return total / len(index)


def perplexity(logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> float:
    """exp(mean negative log-likelihood) of ``targets`` ``[B, T]`` under ``logits``
    ``[B, T, V]``, where ``logits[:, t]`` predicts ``targets[:, t]``: the caller does the usual
    shift (``logits[:, :-1]`` against ``ids[:, 1:]``). ``mask`` picks the positions counted."""
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"logits must be [B, T, V] and targets [B, T], got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    vocab = logits.shape[-1]
    if targets.numel() and not 0 <= int(targets.min()) <= int(targets.max()) < vocab:
        raise ValueError(f"targets must be token ids in 0..{vocab - 1}")
    rows = logits.reshape(-1, vocab)
    flat_targets = targets.reshape(-1).to(rows.device).long()
    index = _positions(targets.shape, mask, rows.device)
    nll = 0.0
    for chunk in _chunks(index):
        log_p = torch.log_softmax(rows.index_select(0, chunk).double(), dim=-1)
        picked = log_p.gather(1, flat_targets.index_select(0, chunk).unsqueeze(1))
        nll -= float(picked.sum())
    return math.exp(nll / len(index))


def _check_tokens(reference: Tensor, tokens: Tensor) -> None:
    if reference.dim() != 2 or reference.shape != tokens.shape:
        raise ValueError(f"token tensors must both be [B, N] of one shape, got "
                         f"{tuple(reference.shape)} and {tuple(tokens.shape)}")
    if reference.shape[1] == 0:
        raise ValueError("token tensors hold no positions")


def _positions(shape: torch.Size, mask: Tensor | None, device: torch.device) -> Tensor:
    """Flat indices of the counted positions of a ``[B, T]`` grid."""
    if mask is None:
        index = torch.arange(shape[0] * shape[1], device=device)
    elif mask.shape != shape:
        raise ValueError(f"mask must be {tuple(shape)}, got {tuple(mask.shape)}")
    else:
        index = mask.reshape(-1).to(device).bool().nonzero().squeeze(1)
    if len(index) == 0:
        raise ValueError("no positions to average over (empty input or all-zero mask)")
    return index


def _chunks(index: Tensor) -> Iterator[Tensor]:
    for start in range(0, len(index), _ROWS_PER_CHUNK):
        yield index[start:start + _ROWS_PER_CHUNK]


# --- model side --------------------------------------------------------------------------------


def _device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    param = next(model.parameters(), None) if hasattr(model, "parameters") else None
    return param.device if param is not None else torch.device("cpu")


def _forward_logits(model: Any, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
    device = _device(model)
    mask = None if attention_mask is None else attention_mask.to(device)
    with torch.inference_mode():
        return model(input_ids=input_ids.to(device), attention_mask=mask).logits


def greedy_continuation(model: Any, input_ids: Tensor, attention_mask: Tensor | None,
                        n_tokens: int) -> Tensor:
    """The ``[B, n_tokens]`` greedy new tokens (on the CPU), through the same eager ``generate``
    call the benches time (without an EOS token, so none can end a sequence early and every
    method yields ``n``)."""
    device = _device(model)
    mask = None if attention_mask is None else attention_mask.to(device)
    engine = HFEngine(model)
    engine.generate(Prompt(input_ids.to(device), mask), n_tokens, lambda: None)
    new = engine.last_tokens.cpu()
    if new.shape[1] != n_tokens:
        raise RuntimeError(f"generate returned {new.shape[1]} new tokens, asked for {n_tokens}")
    return new


def teacher_forced_logits(model: Any, input_ids: Tensor, attention_mask: Tensor | None = None,
                          *, keep_last: int | None = None) -> Tensor:
    """Logits of one forward pass, float32 on the CPU for comparison across methods; with
    ``keep_last`` only the last positions are copied off the device."""
    logits = _forward_logits(model, input_ids, attention_mask)
    if keep_last is not None:
        logits = logits[:, logits.shape[1] - keep_last:]
    return logits.float().cpu()


@dataclass(frozen=True)
class QualityReference:
    """What FP16 produced, kept on the CPU so FP16 runs once and is freed before the next
    method loads.

    ``logits`` holds only the ``n`` positions that predict the continuation tokens (``[B, n, V]``
    float32): with V = 151936, B = 4 and n = 32 that is about 78 MB.
    """

    input_ids: Tensor
    attention_mask: Tensor | None
    tokens: Tensor
    logits: Tensor

    @property
    def n_tokens(self) -> int:
        return self.tokens.shape[1]

    @property
    def nbytes(self) -> int:
        return self.logits.numel() * self.logits.element_size()

    @classmethod
    def capture(cls, model: Any, input_ids: Tensor, attention_mask: Tensor | None,
                n_tokens: int) -> QualityReference:
        """Run the reference model: greedy continuation, then its teacher-forced logits."""
        tokens = greedy_continuation(model, input_ids, attention_mask, n_tokens)
        ids = input_ids.cpu()
        mask = None if attention_mask is None else attention_mask.cpu()
        logits = _continuation_logits(model, ids, mask, tokens)
        return cls(ids, mask, tokens, logits)


def _continuation_logits(model: Any, input_ids: Tensor, attention_mask: Tensor | None,
                         tokens: Tensor) -> Tensor:
    """Logits at the positions that predict ``tokens`` when they follow ``input_ids``: the
    last prompt position and every continuation position but the last."""
    n = tokens.shape[1]
    ids = torch.cat([input_ids, tokens[:, :-1]], dim=1)
    mask = None
    if attention_mask is not None:
        mask = torch.cat([attention_mask, attention_mask.new_ones(tokens.shape[0], n - 1)], dim=1)
    return teacher_forced_logits(model, ids, mask, keep_last=n)


def exact_metric(name: str, value: float, n: int) -> Metric:
    """A quality figure: computed once over ``n`` tokens, not sampled (no interval)."""
    s = spec(name)
    return Metric(name, s.unit, value, value, value, n, s.higher_is_better, 0.0, "exact")


def evaluate(model: Any, reference: QualityReference) -> dict[str, Metric]:
    """``token_agreement``, ``top1_agreement`` and ``kl_divergence`` of ``model`` against the FP16
    reference; the last two over the positions that predict the continuation tokens only,
    teacher-forced on FP16's."""
    tokens = greedy_continuation(model, reference.input_ids, reference.attention_mask,
                                 reference.n_tokens)
    logits = _continuation_logits(model, reference.input_ids, reference.attention_mask,
                                  reference.tokens)
    return against_reference(reference, tokens, logits)


def against_reference(reference: QualityReference, tokens: Tensor, logits: Tensor) -> dict[str, Metric]:
    """``token_agreement`` of a method's greedy ``tokens``, ``top1_agreement`` and
    ``kl_divergence`` of its ``logits`` (teacher-forced on FP16's tokens) against the reference,
    however they were made."""
    count = reference.tokens.numel()
    return {
        "token_agreement": exact_metric("token_agreement", token_agreement(reference.tokens, tokens),
                                   count),
        "top1_agreement": exact_metric("top1_agreement", top1_agreement(reference.logits, logits),
                                       count),
        "kl_divergence": exact_metric("kl_divergence", mean_kl(reference.logits, logits), count),
    }


def default_text() -> str:
    """The bundled English text (``data/quality.txt``) used for perplexity by default."""
    return resources.files("quantbench").joinpath("data/quality.txt").read_text(encoding="utf-8")


def text_perplexity(model: Any, tokenizer: Any, text: str | None = None,
                    max_tokens: int = 512) -> Metric:
    """Perplexity of ``model`` on the first ``max_tokens`` tokens of ``text`` (the bundled text
    when ``None``). Only meaningful for a trained model with its own tokenizer: a synthetic
    model with random weights scores about its vocabulary size whatever the text, so callers
    run this only when a tokenizer is available."""
    ids = tokenizer(default_text() if text is None else text, return_tensors="pt")["input_ids"]
    ids = ids[:, :max_tokens]
    if ids.shape[1] < 2:
        raise ValueError("text_perplexity needs at least 2 tokens of text")
    logits = _forward_logits(model, ids, torch.ones_like(ids))
    value = perplexity(logits[:, :-1], ids[:, 1:])
    return exact_metric("perplexity", value, ids.shape[1] - 1)


# --- gating ------------------------------------------------------------------------------------


def through_engine(engine: Any, prompt: Any, reference: QualityReference) -> dict[str, Metric]:
    """Agreement and KL through a mode's own engine: its free greedy tokens against FP16's, and
    its logits teacher-forced on FP16's tokens (so a compiled or captured graph is what is judged).
    FP16's eager model captured the reference, so FP16 in another mode shows what the loop alone
    changes."""
    engine.generate(prompt, reference.n_tokens, lambda: None)
    tokens = engine.last_tokens.cpu()
    logits = engine.teacher_forced_logits(prompt, reference.tokens)
    return against_reference(reference, tokens, logits)
