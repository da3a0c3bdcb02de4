"""Quality against FP16: agreement, KL and perplexity on hand-built tensors, the gate's
thresholds, and the model-side helpers on a fake bigram model and a tiny real Qwen2."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch

from quantbench.run.quality import (
    top1_agreement,
    QualityReference,
    default_text,
    evaluate,
    greedy_continuation,
    mean_kl,
    perplexity,
    teacher_forced_logits,
    text_perplexity,
    token_agreement,
)
from quantbench.config import Settings
from quantbench.judge.quality import QualityVerdict, quality_rows, quality_verdicts, thresholds_of
from quantbench.results import CaseResult, Metric
from quantbench.report.reasons import quality_text, reason_text

# --- token agreement and first divergence ------------------------------------------------------


def test_agreement_counts_matching_positions():
    ref = torch.tensor([[1, 2, 3, 4]])
    assert token_agreement(ref, torch.tensor([[1, 2, 9, 4]])) == 0.75
    assert token_agreement(ref, ref.clone()) == 1.0
    assert token_agreement(ref, torch.tensor([[0, 0, 0, 0]])) == 0.0


def test_agreement_over_the_batch_and_first_n():
    ref = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    got = torch.tensor([[1, 2, 0, 0], [5, 0, 7, 8]])
    assert token_agreement(ref, got) == 5 / 8
    assert token_agreement(ref, got, n=2) == 3 / 4
    assert token_agreement(ref, got, n=1) == 1.0
    assert token_agreement(ref, got, n=4) == 5 / 8


@pytest.mark.parametrize("n", [0, 5, -1])
def test_agreement_rejects_n_out_of_range(n):
    ref = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="n must be"):
        token_agreement(ref, ref, n=n)


@pytest.mark.parametrize("fn", [token_agreement])
def test_token_shape_mismatch_raises(fn):
    with pytest.raises(ValueError, match="one shape"):
        fn(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        fn(torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="no positions"):
        fn(torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long))


# --- KL divergence ------------------------------------------------------------------------------

P1, Q1 = [0.5, 0.25, 0.25], [0.25, 0.5, 0.25]
P2, Q2 = [0.7, 0.2, 0.1], [0.2, 0.2, 0.6]
P3 = [0.1, 0.3, 0.6]
KL1 = 0.5 * math.log(0.5 / 0.25) + 0.25 * math.log(0.25 / 0.5) + 0.25 * math.log(1.0)
KL2 = 0.7 * math.log(0.7 / 0.2) + 0.2 * math.log(0.2 / 0.2) + 0.1 * math.log(0.1 / 0.6)


def log_probs(*rows: list[float]) -> torch.Tensor:
    """One sequence ``[1, T, V]`` of logits whose softmax is exactly the given rows."""
    return torch.tensor([[[math.log(p) for p in row] for row in rows]], dtype=torch.float64)


def test_kl_matches_hand_computed_values():
    assert KL1 == pytest.approx(0.25 * math.log(2))
    assert mean_kl(log_probs(P1), log_probs(Q1)) == pytest.approx(KL1, abs=1e-12)
    assert mean_kl(log_probs(P2), log_probs(Q2)) == pytest.approx(KL2, abs=1e-12)
    both = mean_kl(log_probs(P1, P2, P3), log_probs(Q1, Q2, P3))
    assert both == pytest.approx((KL1 + KL2 + 0.0) / 3, abs=1e-12)


def test_kl_direction_is_reference_first():
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.5 * math.log(0.5 / 0.25)
    assert mean_kl(log_probs(Q1), log_probs(P1)) == pytest.approx(reverse, abs=1e-12)
    back = 0.2 * math.log(0.2 / 0.7) + 0.6 * math.log(0.6 / 0.1)
    assert mean_kl(log_probs(Q2), log_probs(P2)) == pytest.approx(back, abs=1e-12)
    assert back != pytest.approx(KL2)


def test_kl_zero_for_identical_and_shift_invariant():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    assert mean_kl(logits, logits.clone()) == 0.0
    assert mean_kl(logits, logits + 7.5) == pytest.approx(0.0, abs=1e-6)
    ref, other = log_probs(P1, P2), log_probs(Q1, Q2)
    shifted = mean_kl(ref - 3.0, other + 100.0)
    assert shifted == pytest.approx((KL1 + KL2) / 2, abs=1e-12)


def test_kl_mask_selects_positions():
    ref = torch.cat([log_probs(P1, P2, P3), log_probs(P3, P3, P2)])
    other = torch.cat([log_probs(Q1, Q2, P3), log_probs(P3, P3, Q2)])
    mask = torch.tensor([[1, 0, 1], [0, 0, 1]])
    assert mean_kl(ref, other, mask) == pytest.approx((KL1 + 0.0 + KL2) / 3, abs=1e-12)
    bool_mask = torch.tensor([[False, True, False], [False, False, False]])
    assert mean_kl(ref, other, bool_mask) == pytest.approx(KL2, abs=1e-12)
    assert mean_kl(ref, other) == pytest.approx((KL1 + KL2 + KL2) / 6, abs=1e-12)


def test_kl_in_float64_for_float16_inputs():
    ref, other = log_probs(P1).half(), log_probs(Q1).half()
    expected = mean_kl(ref.double(), other.double())
    assert mean_kl(ref, other) == expected


def test_kl_zero_probability_reference_token_contributes_nothing():
    ref = torch.tensor([[[0.0, 0.0, -math.inf]]])
    other = torch.tensor([[[0.0, 0.0, 0.0]]])
    expected = 2 * 0.5 * math.log(0.5 / (1 / 3))
    assert mean_kl(ref, other) == pytest.approx(expected, abs=1e-12)


def test_kl_shape_and_mask_errors():
    with pytest.raises(ValueError, match="one shape"):
        mean_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"\[B, T, V\]"):
        mean_kl(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="mask must be"):
        mean_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="no positions"):
        mean_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2))


def test_kl_over_many_chunks_equals_one_pass():
    torch.manual_seed(1)
    ref, other = torch.randn(3, 50, 17), torch.randn(3, 50, 17)
    p = torch.log_softmax(ref.double(), -1)
    q = torch.log_softmax(other.double(), -1)
    expected = float((p.exp() * (p - q)).sum(-1).mean())
    assert mean_kl(ref, other) == pytest.approx(expected, rel=1e-12)


# --- perplexity ---------------------------------------------------------------------------------


def test_perplexity_is_exp_of_hand_computed_nll():
    logits = log_probs(P1, P2)
    targets = torch.tensor([[0, 2]])
    nll = (-math.log(0.5) - math.log(0.1)) / 2
    assert perplexity(logits, targets) == pytest.approx(math.exp(nll), rel=1e-12)
    assert perplexity(logits, targets) == pytest.approx(math.sqrt(20), rel=1e-12)


def test_perplexity_of_uniform_logits_is_vocab_size():
    logits = torch.full((2, 6, 7), 3.25)
    targets = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(0))
    assert perplexity(logits, targets) == pytest.approx(7.0, rel=1e-12)


def test_perplexity_mask():
    logits = log_probs(P1, P2, P3)
    targets = torch.tensor([[1, 0, 2]])
    mask = torch.tensor([[1, 0, 1]])
    nll = (-math.log(0.25) - math.log(0.6)) / 2
    assert perplexity(logits, targets, mask) == pytest.approx(math.exp(nll), rel=1e-12)


def test_perplexity_errors():
    with pytest.raises(ValueError, match="targets"):
        perplexity(torch.zeros(1, 3, 5), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        perplexity(torch.zeros(1, 2, 5), torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="no positions"):
        perplexity(torch.zeros(1, 2, 5), torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2))


# --- gating -------------------------------------------------------------------------------------


LIMITS = {"token_agreement": 0.5, "kl_divergence": 0.5}


def quality(agreement: float, kl: float) -> dict[str, Metric]:
    return {"token_agreement": Metric.exact("token_agreement", "fraction", agreement,
                                            higher_is_better=True),
            "kl_divergence": Metric.exact("kl_divergence", "nats", kl, higher_is_better=False)}


def test_verdicts_skip_fp16_and_judge_each_metric():
    verdicts = quality_verdicts(
        {"fp16": quality(0.0, 9.0), "int8": quality(0.41, 0.62), "nf4": quality(0.9, 0.1)},
        LIMITS)
    assert [(v.method, v.metric, v.ok) for v in verdicts] == [
        ("int8", "token_agreement", False), ("int8", "kl_divergence", False),
        ("nf4", "token_agreement", True), ("nf4", "kl_divergence", True)]
    assert verdicts[0] == QualityVerdict("int8", "token_agreement", 0.41, 0.5, False)
    assert quality_text(verdicts[0]) == "int8 token agreement 0.41 < 0.50"
    assert quality_text(verdicts[1]) == "int8 KL divergence 0.62 > 0.50 nats"
    assert quality_text(verdicts[2]) == "nf4 token agreement 0.90 >= 0.50"
    assert quality_text(verdicts[3]) == "nf4 KL divergence 0.10 <= 0.50 nats"


@pytest.mark.parametrize(("agreement", "ok"), [(0.5, True), (0.4999, False), (0.5001, True)])
def test_agreement_boundary(agreement, ok):
    (verdict,) = quality_verdicts({"awq": {"token_agreement": quality(agreement, 0)[
        "token_agreement"]}}, LIMITS)
    assert verdict.ok is ok


@pytest.mark.parametrize(("kl", "ok"), [(0.5, True), (0.5001, False), (0.4999, True)])
def test_kl_boundary(kl, ok):
    (verdict,) = quality_verdicts({"awq": {"kl_divergence": quality(1, kl)["kl_divergence"]}},
                                  LIMITS)
    assert verdict.ok is ok


def test_verdict_reasons_never_print_unequal_values_alike():
    (near,) = quality_verdicts({"bf16": {"token_agreement": quality(0.499, 0)["token_agreement"]}},
                               LIMITS)
    assert quality_text(near) == "bf16 token agreement 0.499 < 0.500"
    (tiny,) = quality_verdicts({"bf16": {"kl_divergence": quality(1, 1e-9)["kl_divergence"]}},
                               LIMITS)
    assert tiny.ok and quality_text(tiny) == "bf16 KL divergence 0.00 <= 0.50 nats"


def test_verdicts_nan_fails_and_missing_metrics_are_not_judged():
    verdicts = quality_verdicts({"int8": quality(float("nan"), 0.1), "nf4": {}},
                                LIMITS)
    assert [(v.method, v.metric, v.ok) for v in verdicts] == [
        ("int8", "token_agreement", False), ("int8", "kl_divergence", True)]
    assert quality_text(verdicts[0]) == "int8 token agreement is NaN"


# --- model-side helpers on a fake bigram model --------------------------------------------------

V = 4
E2 = math.exp(2.0)


class Bigram(torch.nn.Module):
    """Next-token logits depend on the current token only: row t of a fixed ``[V, V]`` table.

    Row t puts logit 2 on ``(t + 1) % V`` unless ``rewire`` sends it elsewhere."""

    def __init__(self, rewire: dict[int, int] | None = None) -> None:
        super().__init__()
        table = torch.zeros(V, V)
        for t in range(V):
            table[t, (rewire or {}).get(t, (t + 1) % V)] = 2.0
        self.embed = torch.nn.Embedding(V, V)
        self.head = torch.nn.Linear(V, V, bias=False)
        with torch.no_grad():
            self.embed.weight.copy_(torch.eye(V))
            self.head.weight.copy_(table.T)
        self.calls: list[dict] = []

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.head(self.embed(input_ids)))

    def generate(self, input_ids, attention_mask=None, max_new_tokens=1, **kwargs):
        self.calls.append({"max_new_tokens": max_new_tokens, **kwargs})
        ids = input_ids
        for _ in range(max_new_tokens):
            nxt = self(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        return ids


# KL(P || Q) where P has logit 2 on one token and Q on another of the 4: both
# distributions are [e², 1, 1, 1] / (3 + e²) up to a permutation.
K_ROW = (-2.0 + E2 * 2.0) / (3 + E2)


def test_greedy_continuation_returns_only_new_tokens_and_forbids_early_stop():
    model = Bigram()
    tokens = greedy_continuation(model, torch.tensor([[2, 0], [1, 3]]), None, 5)
    assert tokens.tolist() == [[1, 2, 3, 0, 1], [0, 1, 2, 3, 0]]
    call = model.calls[0]
    assert call["max_new_tokens"] == 5 and call["eos_token_id"] is None
    assert "min_new_tokens" not in call
    assert call["do_sample"] is False


def test_greedy_continuation_rejects_a_short_generate():
    model = Bigram()
    model.generate = lambda input_ids, **kw: input_ids
    with pytest.raises(RuntimeError, match="0 new tokens"):
        greedy_continuation(model, torch.tensor([[0]]), None, 3)


def test_teacher_forced_logits_are_float32_on_cpu():
    model = Bigram().half()
    logits = teacher_forced_logits(model, torch.tensor([[0, 1, 2]]))
    assert logits.dtype == torch.float32 and logits.device.type == "cpu"
    assert logits.shape == (1, 3, V)
    assert teacher_forced_logits(model, torch.tensor([[0, 1, 2]]), keep_last=1).shape == (1, 1, V)


def test_reference_keeps_only_continuation_logits():
    ids = torch.tensor([[2, 0], [1, 3]])
    ref = QualityReference.capture(Bigram(), ids, torch.ones_like(ids), 4)
    assert ref.tokens.tolist() == [[1, 2, 3, 0], [0, 1, 2, 3]]
    assert ref.logits.shape == (2, 4, V) and ref.logits.dtype == torch.float32
    assert ref.nbytes == 2 * 4 * V * 4
    # Position j of the stored logits predicts continuation token j: its argmax is that token.
    assert ref.logits.argmax(-1).tolist() == ref.tokens.tolist()


def test_identical_model_agrees_fully_with_zero_kl():
    ids = torch.tensor([[2, 0], [1, 3]])
    ref = QualityReference.capture(Bigram(), ids, torch.ones_like(ids), 4)
    metrics = evaluate(Bigram(), ref)
    assert metrics["token_agreement"].median == 1.0
    assert metrics["kl_divergence"].median == 0.0
    agreement, kl = metrics["token_agreement"], metrics["kl_divergence"]
    assert agreement.n == 8
    assert agreement.unit == "fraction" and agreement.higher_is_better
    assert kl.unit == "nats" and not kl.higher_is_better


def test_divergent_model_expected_agreement_and_kl():
    # The method sends token 2 to 0 instead of 3. FP16 continues [2, 0] with 1 2 3 0 and [1, 3]
    # with 0 1 2 3; the method with 1 2 0 1 and 0 1 2 0: 2 + 3 of 8 tokens agree. Teacher-forced
    # on FP16's text, the predicting positions are tokens 0 1 2 3 and 3 0 1 2 — row 2 differs
    # once in each. The prompt's own token 2 (first row) must not count.
    ids = torch.tensor([[2, 0], [1, 3]])
    ref = QualityReference.capture(Bigram(), ids, torch.ones_like(ids), 4)
    metrics = evaluate(Bigram(rewire={2: 0}), ref)
    assert metrics["token_agreement"].median == 5 / 8
    assert metrics["kl_divergence"].median == pytest.approx(2 * K_ROW / 8, rel=1e-6)


def test_text_perplexity_with_a_character_tokenizer():
    def tokenizer(text, return_tensors):
        return {"input_ids": torch.tensor([[ord(c) - ord("a") for c in text]])}

    # Every next character is the bigram's favourite: probability e² / (3 + e²) each.
    metric = text_perplexity(Bigram(), tokenizer, "abcdabcd")
    assert metric.name == "perplexity" and metric.unit == "ppl" and metric.n == 7
    assert metric.median == pytest.approx((3 + E2) / E2, rel=1e-6)
    # Truncation to max_tokens: "abca" would differ from "abcd" only past the cut.
    assert text_perplexity(Bigram(), tokenizer, "abcaaaaa", max_tokens=3).median == pytest.approx(
        (3 + E2) / E2, rel=1e-6)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        text_perplexity(Bigram(), tokenizer, "a")


def test_default_text_is_bundled_plain_english():
    text = default_text()
    assert 2000 <= len(text.encode()) <= 4096
    assert text.isascii() and "benchmark" in text


# --- a genuine tiny transformers Qwen2 ----------------------------------------------------------


def tiny_qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=256)
    return Qwen2ForCausalLM(config).eval()


def test_tiny_qwen2_against_itself_and_a_perturbed_copy():
    model = tiny_qwen2()
    ids = torch.randint(3, 256, (2, 8), generator=torch.Generator().manual_seed(1))
    ref = QualityReference.capture(model, ids, torch.ones_like(ids), 6)
    assert ref.tokens.shape == (2, 6) and ref.logits.shape == (2, 6, 256)

    same = evaluate(model, ref)
    assert same["token_agreement"].median == 1.0
    assert abs(same["kl_divergence"].median) < 1e-6

    perturbed = copy.deepcopy(model)
    with torch.no_grad():
        perturbed.lm_head.weight.add_(0.05 * torch.randn_like(perturbed.lm_head.weight))
    worse = evaluate(perturbed, ref)
    assert worse["kl_divergence"].median > 1e-4
    assert 0.0 <= worse["token_agreement"].median <= 1.0


def test_tiny_qwen2_left_padded_logits_line_up_with_greedy_tokens():
    model = tiny_qwen2()
    ids = torch.randint(3, 256, (2, 8), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    ref = QualityReference.capture(model, ids, mask, 6)
    assert ref.logits.argmax(-1).tolist() == ref.tokens.tolist()
    assert evaluate(model, ref)["token_agreement"].median == 1.0


def test_engine_teacher_forcing_reproduces_the_reference_logits():
    """The mode path of the KL check: decoding FP16's tokens through the engine (forced inside
    ``generate``, step by step with a KV cache) gives the logits of one teacher-forced forward,
    left padding included; a different model's forced logits differ and its KL is positive."""
    from quantbench.run.engine import HFEngine
    from quantbench.run.prompts import Prompt

    model = tiny_qwen2()
    ids = torch.randint(3, 256, (2, 8), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    ref = QualityReference.capture(model, ids, mask, 6)
    forced = HFEngine(model).teacher_forced_logits(Prompt(ids, mask), ref.tokens)
    assert forced.shape == ref.logits.shape and forced.dtype == torch.float32
    torch.testing.assert_close(forced, ref.logits, atol=1e-4, rtol=1e-4)
    assert mean_kl(ref.logits, forced) < 1e-8

    perturbed = copy.deepcopy(model)
    with torch.no_grad():
        perturbed.lm_head.weight.add_(0.05 * torch.randn_like(perturbed.lm_head.weight))
    other = HFEngine(perturbed).teacher_forced_logits(Prompt(ids, mask), ref.tokens)
    assert mean_kl(ref.logits, other) == pytest.approx(evaluate(perturbed, ref)["kl_divergence"].median,
                                                       rel=1e-3)


def _top1(value: float) -> Metric:
    return Metric.exact("top1_agreement", "fraction", value, higher_is_better=True)


def test_top1_agreement_counts_positions_whose_argmax_matches():
    ref = torch.tensor([[[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]], [[0.0, 0.0, 1.0], [1.0, 2.0, 0.0]]])
    other = torch.tensor([[[0.0, 5.0, 1.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 9.0], [1.0, 2.0, 3.0]]])
    assert top1_agreement(ref, ref) == 1.0
    assert top1_agreement(ref, other) == 0.5  # positions (0,0) and (1,0) agree, the others not
    with pytest.raises(ValueError, match="one shape"):
        top1_agreement(ref, other[:, :1])
    with pytest.raises(ValueError, match="no positions"):
        top1_agreement(ref[:, :0], other[:, :0])


def test_top1_is_judged_with_its_own_threshold():
    (verdict,) = quality_verdicts({"nf4": {"top1_agreement": _top1(0.742)}}, {"top1_agreement": 0.6})
    assert verdict.ok and quality_text(verdict) == "nf4 top-1 agreement 0.74 >= 0.60"
    (low,) = quality_verdicts({"nf4": {"top1_agreement": _top1(0.59)}}, {"top1_agreement": 0.6})
    assert not low.ok and quality_text(low) == "nf4 top-1 agreement 0.59 < 0.60"


def test_thresholds_default_gate_top1_and_kl_and_a_zero_agreement_is_no_gate():
    assert thresholds_of(Settings()) == {"top1_agreement": 0.6, "kl_divergence": 0.5}
    both = thresholds_of(Settings(min_token_agreement=0.5, min_top1_agreement=0.0))
    assert both == {"token_agreement": 0.5, "kl_divergence": 0.5}


def test_free_running_agreement_is_reported_not_gated_by_default():
    metrics = {**quality(0.43, 0.23), "top1_agreement": _top1(0.74)}
    case = CaseResult("default", "eager", "quality", "nf4", "nf4", metrics)
    rows = {r.metric: r for r in quality_rows([case], Settings(), synthetic=False)}
    assert rows["token_agreement"].verdict == "info"
    assert reason_text(rows["token_agreement"]) == "not gated (min_token_agreement = 0)"
    assert rows["top1_agreement"].verdict == "pass" and rows["kl_divergence"].verdict == "pass"
    synthetic = {r.metric: r for r in quality_rows([case], Settings(), synthetic=True)}
    assert {reason_text(synthetic[m]) for m in ("token_agreement", "top1_agreement")} == {
        "not gated on synthetic weights"}
