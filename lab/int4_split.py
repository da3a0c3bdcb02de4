"""Where INT4's compiled end-to-end time goes (issue 24): bf16 against torchao int4wo, compiled, one GPU.

Builds the synthetic model in memory (random weights, bf16, quantbench's shipped config: Qwen2.5-7B
shapes by default), then for each variant drives quantbench's own compiled engine (``run.engine.HFEngine``:
``generate`` with a static cache, ``torch.compile`` reduce-overhead) and prints per decode token:

* wall time from timed rounds (``run.measure``, CUDA events) and the tok/s it gives;
* kernel time, kernels, kernel launches and CUDA graph launches (``run.device``'s profiled pass);
* host time = wall − kernel time, the part of a token the GPU waits for the host;
* every CUDA runtime/driver API call per token by name (N-token minus 1-token profile, / (N − 1));
* with ``--cprofile``, the host's own time per token by Python function (cProfile over an N-token
  and a 1-token ``generate``, the difference / (N − 1); each function's own time, and the
  cumulative time of the ones that hold the most): where the milliseconds outside the kernels go.
  cProfile slows Python down, so read its figures as shares, not as the host time itself.

Variants, in order (quantizing and unwrapping are in place, so the order is fixed): ``bf16``;
``wrapped`` (the torchao method's tensor-subclass weights as loaded: dynamo guards them every step);
``skip-guards`` (the same under ``torch.compiler.set_stance(skip_guard_eval_unsafe=True)``: what
guard evaluation costs); ``unwrapped`` (``compat.unwrap_torchao``: what quantbench's compiled mode runs);
``unwrapped-skip-guards`` (that, without guard evaluation).

usage (one GPU, torchao installed): PYTHONPATH=src python lab/int4_split.py [--size 7b] [--tokens 128]
  [--rounds 5] [--method int4wo|int8wo|fp8wo|fp8dq] [--cprofile]
  [--variants bf16,wrapped,skip-guards,unwrapped,unwrapped-skip-guards]
Writes int4_split.json to $OUT (or the current folder). Needs no network and no checkpoint on disk.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from quantbench import compat
from quantbench.methods import torchao_config
from quantbench.run.device import HOST_ACTIVITIES, device_metrics
from quantbench.run.engine import HFEngine
from quantbench.run.measure import measure_generation
from quantbench.run.prompts import Prompt
from quantbench.run.stopping import StopRule
from quantbench.run.timing import CudaClock
from quantbench.sources import synthetic_config_dict

VARIANTS = ("bf16", "wrapped", "skip-guards", "unwrapped", "unwrapped-skip-guards")
PROMPT_TOKENS = 64
PROFILE_TOKENS = 32


def build_model(size: str) -> torch.nn.Module:
    """Random-weight bf16 model with quantbench's shipped config of ``size``, built on the GPU."""
    import tempfile

    from transformers import AutoConfig, AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(synthetic_config_dict(f"qwen2.5-{size}-instruct")))
        config = AutoConfig.from_pretrained(path)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    model.generation_config.pad_token_id = 0
    return model


def api_calls_per_token(engine: HFEngine, prompt: Prompt, tokens: int) -> dict[str, float]:
    """CUDA runtime and driver calls per decode token, by name."""
    def calls(n: int) -> Counter:
        records = compat.cuda_activity(lambda: engine.generate(prompt, n, type(None)))
        return Counter(name for name, activity, _ in records if activity in HOST_ACTIVITIES)

    many, one = calls(tokens), calls(1)
    per = {name: (many[name] - one[name]) / (tokens - 1) for name in many}
    return {k: round(v, 2) for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def host_profile(engine: HFEngine, prompt: Prompt, tokens: int, top: int = 25) -> dict[str, list]:
    """Host time per decode token by Python function, in us: cProfile's own time (``self``) and
    cumulative time (``cum``) over a ``tokens``-token generate minus a 1-token one, / (tokens − 1)."""
    def stats(n: int) -> dict:
        profiler = cProfile.Profile()
        profiler.enable()
        engine.generate(prompt, n, type(None))
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        profiler.disable()
        return pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, callers)

    many, one = stats(tokens), stats(1)
    rows = []
    for key, (_, calls, own, cum, _) in many.items():
        base = one.get(key, (0, 0, 0.0, 0.0, None))
        label = f"{Path(key[0]).name}:{key[1]}({key[2]})" if key[0] != "~" else key[2]
        rows.append((label, (calls - base[1]) / (tokens - 1), (own - base[2]) * 1e6 / (tokens - 1),
                     (cum - base[3]) * 1e6 / (tokens - 1)))
    by_self = sorted(rows, key=lambda r: -r[2])[:top]
    by_cum = sorted(rows, key=lambda r: -r[3])[:top]

    def fmt(r: tuple) -> list:
        return [r[0], round(r[1], 2), round(r[2], 1), round(r[3], 1)]

    return {"columns": ["function", "calls/token", "self us/token", "cum us/token"],
            "total_self_us": round(sum(r[2] for r in rows), 1),
            "by_self": [fmt(r) for r in by_self], "by_cum": [fmt(r) for r in by_cum]}


def measure(name: str, model: torch.nn.Module, prompt: Prompt, tokens: int, rounds: int,
            unwrap: bool, skip_guards: bool, cprofile: bool = False) -> dict:
    start = time.perf_counter()
    engine = HFEngine(model, "compiled", unwrap=unwrap)
    for _ in range(2):  # compile and capture, with every guard evaluated
        engine.generate(prompt, tokens, type(None))
    torch.cuda.synchronize()
    compile_s = time.perf_counter() - start
    rule = StopRule(rounds, rounds, float("inf"), 0.0, adaptive=False)
    # set_stance takes effect when called, so only here, after the warm-ups
    with (torch.compiler.set_stance(skip_guard_eval_unsafe=True) if skip_guards
          else contextlib.nullcontext()):
        run = measure_generation(engine, [prompt], 1, tokens, CudaClock(), rule, warmup=0)
        steps = sorted(ms for s in run.samples for ms in s.step_ms)
        step_ms = steps[len(steps) // 2]
        work = device_metrics(engine, prompt, PROFILE_TOKENS, step_ms)
        api = api_calls_per_token(engine, prompt, PROFILE_TOKENS)
        host = host_profile(engine, prompt, PROFILE_TOKENS) if cprofile else None
    decode = sorted(s.decode_tps for s in run.samples)
    e2e = sorted(s.e2e_tps for s in run.samples)
    return {
        "variant": name, "notes": engine.notes, "compile_s": round(compile_s, 1),
        "decode_tps": round(decode[len(decode) // 2], 1), "e2e_tps": round(e2e[len(e2e) // 2], 1),
        "step_ms_p50": round(step_ms, 3),
        **{k: round(work[k].median, 2) for k in ("decode_kernel_us", "decode_host_us", "decode_kernels",
                                                  "decode_launches", "decode_graph_launches") if k in work},
        "api_calls_per_token": api, "api_calls_total": round(sum(api.values()), 2),
        "compile": engine.compile_stats(), "seconds": round(time.perf_counter() - start, 1),
        **({"host_profile": host} if host else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="7b", help="0.5b, 1.5b, 3b, 7b or 14b (default 7b)")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant")
    parser.add_argument("--method", default="int4wo", choices=("int4wo", "int8wo", "fp8wo", "fp8dq"),
                        help="the torchao method of the quantized variants (default int4wo)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--cprofile", action="store_true", help="also profile the host per token by function")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not torch.cuda.is_available():
        print(f"int4_split: {'unknown variant ' + bad[0] if bad else 'needs a CUDA GPU'}", file=sys.stderr)
        return 2
    out = Path(os.environ.get("OUT", ".")) / "int4_split.json"
    model = build_model(args.size)
    ids = torch.randint(100, 150000, (1, PROMPT_TOKENS), device="cuda",
                        generator=torch.Generator("cuda").manual_seed(1))
    prompt = Prompt(ids, torch.ones_like(ids))
    results = []
    quantized = False
    for name in VARIANTS:
        if name not in variants:
            continue
        if name != "bf16" and not quantized:
            from torchao.quantization import quantize_

            quantize_(model, torchao_config(args.method))
            quantized = True
        try:
            row = measure(name, model, prompt, args.tokens, args.rounds, name.startswith("unwrapped"),
                          name.endswith("skip-guards"), args.cprofile)
        except Exception as exc:  # one variant failing leaves the others' figures
            row = {"variant": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
        row["method"] = "bf16" if name == "bf16" else args.method
        results.append(row)
        print(json.dumps(row), flush=True)
        out.write_text(json.dumps({"size": args.size, "method": args.method, "gpu": torch.cuda.get_device_name(),
                                   "torch": torch.__version__, "results": results}, indent=1))
    print(f"\n{args.size}, {args.method}, {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'variant':20} {'e2e tok/s':>9} {'kernel us':>9} {'host us':>8} {'launches':>8} "
          f"{'graphs':>6} {'API calls':>9}  (per decode token)")
    for r in results:
        if "error" in r:
            print(f"{r['variant']:20} error: {r['error']}")
            continue
        print(f"{r['variant']:20} {r['e2e_tps']:>9} {r.get('decode_kernel_us', '-'):>9} "
              f"{r.get('decode_host_us', '-'):>8} {r.get('decode_launches', '-'):>8} "
              f"{r.get('decode_graph_launches', '-'):>6} {r['api_calls_total']:>9}")
    for r in results:
        if "host_profile" in r:
            hp = r["host_profile"]
            print(f"\n{r['variant']}: host per decode token under cProfile, {hp['total_self_us']} us in all; "
                  "by cumulative time (calls/token, self us, cum us):")
            for label, calls, own, cum in hp["by_cum"][:15]:
                print(f"  {label[:70]:70} {calls:>7} {own:>9} {cum:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
