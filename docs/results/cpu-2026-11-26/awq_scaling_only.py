"""autoawq's scale search with export_compatible=True (scales applied, nothing quantized), stock quantizer,
float32, 2 x 128 token ids: the scaled model should score the dense model's perplexity. argv[1]: clip | noclip."""
import sys, time, torch, warnings; warnings.filterwarnings("ignore")
from pathlib import Path
from transformers import AutoTokenizer
from awq import AutoAWQForCausalLM
from quantbench.run.quality import text_perplexity
dense = Path.home()/".cache/quantbench/gguf/dense/smollm2-135m-instruct.q4_1-a9f203dd3b1a"
tok = AutoTokenizer.from_pretrained(dense)
clip = sys.argv[1] == "clip"
m = AutoAWQForCausalLM.from_pretrained(str(dense), device_map="cpu", torch_dtype=torch.float32)
print("dense ppl", text_perplexity(m.model, tok).median, flush=True)
ids = [list(range(1000 + 300 * i, 1000 + 300 * i + 128)) for i in range(2)]
t = time.time()
m.quantize(None, quant_config={"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"},
           calib_data=ids, max_calib_samples=2, max_calib_seq_len=128, export_compatible=True, apply_clip=clip)
print("searched in", round(time.time() - t), "s", flush=True)
print("scaled (not quantized) ppl, clip=%s" % clip, text_perplexity(m.model, tok).median, flush=True)
