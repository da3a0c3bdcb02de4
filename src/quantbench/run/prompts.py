"""The prompts every method sees: seeded token ids for synthetic models, chat text otherwise.

Token-id prompts are drawn from a seeded generator away from the low ids where special tokens
live, never all zeros (zeros can run faster than real data and hide indexing bugs). With a
tokenizer, fixed questions go through the model's chat template, left-padded into batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

QUESTIONS = (
    "Explain what a GPU memory bandwidth bottleneck is in two sentences.",
    "Write a short poem about compilers.",
    "What is the difference between latency and throughput?",
    "Summarise the idea of weight-only quantization for a new engineer.",
    "Give three tips for writing reliable benchmarks.",
    "Why can a smaller model file run slower than a larger one?",
    "Describe how a key-value cache speeds up text generation.",
    "What does a confidence interval tell you about a measurement?",
    "List the steps to profile a slow Python function.",
    "Explain the roofline model in plain words.",
    "What is a tensor core and what is it good for?",
    "Write a haiku about regression tests.",
    "Why do benchmarks need warm-up runs?",
    "How does batching change the cost of each generated token?",
    "What is the median and why is it robust to outliers?",
    "Explain what CUDA graphs are for.",
    "Give an example of a fair comparison between two programs.",
    "What makes a continuous integration job flaky?",
    "Describe the trade-off between model size and accuracy.",
    "Why should a benchmark record the software versions it ran with?",
)
QUALITY_PROMPTS = 4  # prompts in the quality batch
QUALITY_PROMPT_TOKENS = 64  # prompt length when there is no tokenizer


@dataclass(frozen=True)
class Prompt:
    """A batch of prompts ready for the model."""

    input_ids: Any
    attention_mask: Any

    @property
    def batch(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])


def token_prompt(vocab_size: int, length: int, batch: int, seed: int, device: str) -> Prompt:
    """A seeded batch of random token ids of exactly ``length`` tokens."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    low = min(100, vocab_size // 4)
    ids = torch.randint(low, vocab_size, (batch, length), generator=gen)
    return Prompt(ids.to(device), torch.ones_like(ids).to(device))


def token_prompts(vocab_size: int, count: int, length: int, batch: int, seed: int, device: str) -> list[Prompt]:
    """``count`` distinct token-id prompt batches, identical for every method."""
    return [token_prompt(vocab_size, length, batch, seed * 1000 + i, device) for i in range(count)]


def text_prompts(tokenizer: Any, count: int, batch: int, device: str, length: int = 0) -> list[Prompt]:
    """Chat-templated question batches cycling through ``QUESTIONS``, all left-padded to one
    length (``length``, or the longest prompt if that is longer).

    One shape for every round matters on a GPU: kernels such as cuDNN attention build a plan per
    new shape (most of a first ``generate``'s seconds), which prompts of varying length
    would pay inside the measured rounds instead of the warm-up."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    batches = []
    for i in range(count):
        texts = []
        for j in range(batch):
            question = QUESTIONS[(i * batch + j) % len(QUESTIONS)]
            messages = [{"role": "user", "content": question}]
            if getattr(tokenizer, "chat_template", None):
                texts.append(tokenizer.apply_chat_template(messages, tokenize=False,
                                                           add_generation_prompt=True))
            else:
                texts.append(question)
        batches.append(texts)
    longest = max(len(ids) for texts in batches for ids in tokenizer(texts)["input_ids"])
    width = max(length, longest)
    out = []
    for texts in batches:
        enc = tokenizer(texts, return_tensors="pt", padding="max_length", max_length=width)
        out.append(Prompt(enc["input_ids"].to(device), enc["attention_mask"].to(device)))
    return out


def text_prefill_prompt(tokenizer: Any, length: int, batch: int, device: str) -> Prompt:
    """Exactly ``length`` real tokens: the questions' text tokenized and repeated to fit."""
    import torch

    ids = tokenizer(" ".join(QUESTIONS), return_tensors="pt")["input_ids"][0]
    reps = -(-length // ids.numel())
    row = ids.repeat(reps)[:length]
    full = row.unsqueeze(0).repeat(batch, 1)
    return Prompt(full.to(device), torch.ones_like(full).to(device))


def _vocab(model: Any) -> int:
    return int(model.config.vocab_size)


class PromptBook:
    """The session's prompts, the same for every method: chat text through the tokenizer, or
    seeded token ids from the model's vocabulary when there is none; each batch size's
    generation prompts are built once."""

    def __init__(self, tokenizer: Any, scenario: Any, seed: int, device: str) -> None:
        self.tokenizer = tokenizer
        self.scenario = scenario
        self.seed = seed
        self.device = device
        self._generation: dict[int, list[Prompt]] = {}

    def generation(self, model: Any, batch: int) -> list[Prompt]:
        """The generate cases' prompt batches at ``batch`` (``scenario.prompts`` of them)."""
        sc = self.scenario
        if batch not in self._generation:
            if self.tokenizer is not None:
                self._generation[batch] = text_prompts(self.tokenizer, sc.prompts, batch, self.device,
                                                       sc.prompt_tokens)
            else:
                self._generation[batch] = token_prompts(_vocab(model), sc.prompts, sc.prompt_tokens,
                                                        batch, self.seed, self.device)
        return self._generation[batch]

    def prefill(self, model: Any, length: int) -> Prompt:
        """One prompt of exactly ``length`` tokens at batch 1."""
        if self.tokenizer is not None:
            return text_prefill_prompt(self.tokenizer, length, 1, self.device)
        return token_prompt(_vocab(model), length, 1, self.seed + length, self.device)

    def quality(self, model: Any) -> Prompt:
        """The fixed prompt batch every method's outputs are compared on."""
        if self.tokenizer is not None:
            return text_prompts(self.tokenizer, 1, QUALITY_PROMPTS, self.device)[0]
        return token_prompt(_vocab(model), QUALITY_PROMPT_TOKENS, QUALITY_PROMPTS, self.seed + 7,
                            self.device)
