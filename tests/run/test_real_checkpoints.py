"""Real checkpoints, offline: a local folder with weights *and* a tokenizer, and a pre-quantized
AWQ folder, as a user passes them with ``--model`` and ``--awq-model``.

The folders are written here (no hub at run time): the tiny Qwen2 weights plus a word-level
tokenizer with a chat template, so the text path runs for real: chat-templated prompts padded to
one shape, perplexity on the bundled text, and greedy agreement gated (it is a "real" model).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from quantbench.run.prompts import QUESTIONS, text_prompts
from quantbench.run.quality import default_text
from quantbench.sources import ModelSource, load_tokenizer, materialize_synthetic

from session_runs import run_session

CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


def _write_tokenizer(folder: Path, vocab_size: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<eos>", "<pad>", "<user>", "<assistant>"]
    words = dict.fromkeys(re.findall(r"\w+|[^\w\s]", " ".join(QUESTIONS) + " " + default_text()))
    vocab = {w: i for i, w in enumerate([*specials, *words][:vocab_size])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="<eos>",
                                  pad_token="<pad>")
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(folder)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local checkpoint folder: tiny Qwen2 weights with a tokenizer of its own."""
    cache = tmp_path_factory.mktemp("cache")
    weights = materialize_synthetic("qwen2-tiny", cache, 0)
    folder = tmp_path_factory.mktemp("models") / "tiny-real"
    shutil.copytree(weights, folder)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    _write_tokenizer(folder, vocab)
    return folder


def test_local_folder_tokenizer_is_loaded(real: Path) -> None:
    tok = load_tokenizer(ModelSource(str(real), "local", str(real)))
    assert tok is not None and tok.eos_token == "<eos>"
    assert tok("What is a GPU ?")["input_ids"] != []


def test_text_prompts_share_one_left_padded_shape(real: Path) -> None:
    tok = load_tokenizer(ModelSource(str(real), "local", str(real)))
    prompts = text_prompts(tok, count=5, batch=3, device="cpu", length=48)
    widths = {p.input_ids.shape for p in prompts}
    assert len(widths) == 1 and next(iter(widths))[0] == 3
    width = next(iter(widths))[1]
    assert width >= 48
    for p in prompts:
        mask = p.attention_mask
        assert mask[:, -1].all()  # left padding: every row ends on a real token
        assert (mask.sum(dim=1) <= width).all()
        assert ((p.input_ids == tok.pad_token_id) == (mask == 0)).all()


@pytest.mark.session
def test_benches_run_on_a_local_checkpoint_and_a_prequantized_awq_folder(
        real: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_session(cache, tmp_path, "--qb-model", str(real), "--qb-methods", "fp16,awq",
                        "-k", "len128 or bs1 or quality")
    assert first.code == 0, first.output[-3000:]
    data = first.data
    assert data["environment"]["model_source"] == str(real)
    quality = {r["method"]: r["metrics"] for r in data["results"] if r["case"] == "quality"}
    assert set(quality) == {"fp16", "awq"}
    assert quality["fp16"]["token_agreement"]["median"] == 1.0
    assert quality["fp16"]["perplexity"]["median"] > 1.0  # a tokenizer: perplexity is measured
    assert quality["awq"]["perplexity"]["median"] > 1.0
    awq_notes = next(r["notes"] for r in data["results"] if r["method"] == "awq")
    assert any("quantized" in n for n in awq_notes)
    assert any("turned the KV cache back on" in n for n in awq_notes)  # autoawq saved it off
    quantized = next(Path(p) for p in (cache / "awq").iterdir())

    second = run_session(tmp_path / "other-cache", tmp_path, "--qb-model", str(real),
                         "--qb-awq-model", str(quantized), "--qb-methods", "awq", "-k", "len128")
    assert second.code == 0, second.output[-3000:]
    notes = second.data["results"][0]["notes"]
    assert any(n == f"AWQ: pre-quantized checkpoint {quantized}" for n in notes)
    assert not (tmp_path / "other-cache" / "awq").exists()  # nothing quantized again
