"""Minimal reproduction: where INT4 (torchao int4wo) loses its kernel gain at 7B, compiled, batch 1.

No quantbench: transformers' Qwen2 at Qwen2.5-7B shapes (random weights, bf16), a static cache and
one decode step compiled with mode="reduce-overhead" (one CUDA graph a token), the loop of
gpt-fast. For bf16, then int4wo (group 128, tile_packed_to_4d, after unwrap_tensor_subclass),
per decode token, from 3 timed runs of 128 tokens:

* ``loop``: the compiled step in a loop, the next token kept on the GPU (the host may run ahead);
* ``loop+sync``: the same with one ``.item()`` a token, as transformers' ``generate`` does
  (its stopping check), so host and GPU work add up instead of overlapping;
* ``loop+sync, no guards``: that under ``torch.compiler.set_stance(skip_guard_eval_unsafe=True)``;
* ``host``: microseconds a token the host spends in the compiled call alone (the step called with
  the GPU already idle, timed to its return, without waiting for the GPU).

usage (one GPU, torchao on PYTHONPATH): python int4_host_repro.py > repro.jsonl
Origin: the probe of issue 24 (a gpt-fast-style loop), cut down and extended with the sync and
host columns. Written for quantbench's 2026-12-03 H200 session; its output is beside it.
"""
import json
import statistics
import time
import warnings

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, StaticCache

warnings.filterwarnings("ignore")
P, N = 64, 128
cfg = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_hidden_layers=28,
                  num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rope_theta=1e6,
                  rms_norm_eps=1e-6, tie_word_embeddings=False)
torch.manual_seed(0)
with torch.device("cuda"):
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16).eval()
ids = torch.randint(100, 150000, (1, P), device="cuda")


def measure(name: str) -> None:
    torch._dynamo.reset()
    cache = StaticCache(config=cfg, max_cache_len=P + N + 8)

    def step(tok, pos):
        out = model(input_ids=tok, past_key_values=cache, cache_position=pos, use_cache=True)
        return out.logits[:, -1].argmax(-1, keepdim=True)

    cstep = torch.compile(step, mode="reduce-overhead", fullgraph=True)
    positions = [torch.tensor([P + i], device="cuda") for i in range(N)]  # made before timing

    def run(sync: bool) -> float:
        cache.reset()
        tok = model(input_ids=ids, past_key_values=cache, cache_position=torch.arange(P, device="cuda"),
                    use_cache=True).logits[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(N):
            tok = cstep(tok.clone(), positions[i])
            if sync:
                tok.item()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e6 / N

    def host_us() -> float:
        cache.reset()
        tok = ids[:, -1:].clone()
        times = []
        for i in range(N):
            torch.cuda.synchronize()
            start = time.perf_counter()
            tok = cstep(tok.clone(), positions[i])
            times.append((time.perf_counter() - start) * 1e6)
        torch.cuda.synchronize()
        return statistics.median(times)

    with torch.inference_mode():
        for _ in range(3):
            run(True)  # compile, capture, warm
        row = {"variant": name,
               "loop_us": [round(run(False)) for _ in range(3)],
               "loop_sync_us": [round(run(True)) for _ in range(3)]}
        with torch.compiler.set_stance(skip_guard_eval_unsafe=True):
            row["loop_sync_no_guards_us"] = [round(run(True)) for _ in range(3)]
        row["host_us"] = round(host_us())
        with torch.compiler.set_stance(skip_guard_eval_unsafe=True):
            row["host_no_guards_us"] = round(host_us())
    print(json.dumps(row), flush=True)


def guarded(name: str) -> None:
    try:
        measure(name)
    except Exception as exc:  # one variant failing still prints the other
        print(json.dumps({"variant": name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}), flush=True)


guarded("bf16")
from torchao.quantization import Int4WeightOnlyConfig, quantize_  # noqa: E402
from torchao.utils import unwrap_tensor_subclass  # noqa: E402

quantize_(model, Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d"))
unwrap_tensor_subclass(model)
guarded("int4wo-unwrapped")
print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}), flush=True)
