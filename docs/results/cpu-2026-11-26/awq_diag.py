"""Where does SmolLM2's AWQ lose its quality: fp16 compute, or the quantized weights?"""
import json, sys, torch
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer
from quantbench.methods.awq import load_gemm_on_cpu
from quantbench.run.quality import text_perplexity
ck = Path.home()/".cache/quantbench/awq/smollm2-135m-instruct.q4_1-a9f203dd3b1a-edc7e175315b"
dense = Path.home()/".cache/quantbench/gguf/dense/smollm2-135m-instruct.q4_1-a9f203dd3b1a"
tok = AutoTokenizer.from_pretrained(dense)
print("awq config:", json.loads((ck/"config.json").read_text()).get("quantization_config"))
print("marker:", (ck/"quantbench-awq.json").read_text())
ref = AutoModelForCausalLM.from_pretrained(dense, dtype=torch.float32).eval()
print("dense fp32 ppl", text_perplexity(ref, tok).median)
ref16 = AutoModelForCausalLM.from_pretrained(dense, dtype=torch.float16).eval()
print("dense fp16 ppl", text_perplexity(ref16, tok).median)
m = load_gemm_on_cpu(ck)
print("awq (fp16 model) ppl", text_perplexity(m, tok).median)
# dequantized AWQ weights into a float32 dense copy: isolates the weights from fp16 compute
from awq.utils.packing_utils import dequantize_gemm
import copy
d = copy.deepcopy(ref)
sd = {}
for name, mod in m.named_modules():
    if hasattr(mod, "qweight"):
        w = dequantize_gemm(mod.qweight, mod.qzeros, mod.scales, mod.w_bit, mod.group_size)
        sd[name + ".weight"] = w.t().float()
msd = {k: v.float() for k, v in m.state_dict().items() if not any(x in k for x in ("qweight","qzeros","scales"))}
msd.update(sd)
missing, unexpected = d.load_state_dict(msd, strict=False)
print("missing", missing[:5], "unexpected", unexpected[:5])
print("awq weights, fp32 compute ppl", text_perplexity(d, tok).median)
# weight error per layer
for name, mod in list(ref.named_modules()):
    if name + ".weight" in sd and ("layers.0." in name or "layers.29." in name):
        w0 = mod.weight.detach(); w1 = sd[name + ".weight"]
        print(name, "rel err %.3f" % float((w1 - w0).norm() / w0.norm()))
# norm weights differ? (AWQ folds scales into norms)
