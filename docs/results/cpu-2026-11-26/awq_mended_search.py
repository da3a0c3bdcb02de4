"""SmolLM2 quantized by autoawq through quantbench's mended quantizer (compat.awq_quantizer), float32 on the CPU.
argv: samples, tokens per sample, clipping-search tokens (512 = autoawq's default). Prints time and perplexity."""
import sys, time, torch, warnings; warnings.filterwarnings("ignore")
from pathlib import Path
from transformers import AutoTokenizer
from awq import AutoAWQForCausalLM
from quantbench.run.quality import text_perplexity
from quantbench.compat import awq_quantizer
from quantbench.methods.awq import load_gemm_on_cpu, calibration_ids
dense = Path.home()/".cache/quantbench/gguf/dense/smollm2-135m-instruct.q4_1-a9f203dd3b1a"
tok = AutoTokenizer.from_pretrained(dense)
n, L, ct = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
m = AutoAWQForCausalLM.from_pretrained(str(dense), device_map="cpu", torch_dtype=torch.float32)
t = time.time()
m.quantize(None, quant_config={"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"},
           calib_data=calibration_ids(49152, 0, (n, L)), max_calib_samples=n, max_calib_seq_len=L, quantizer_cls=awq_quantizer(ct))
print("calib float32", n, "x", L, "clip tokens", ct, "quantized in", round(time.time() - t), "s", flush=True)
out = Path("/tmp/awqfix-%d-%d-%d" % (n, L, ct)); m.save_quantized(str(out))
q = load_gemm_on_cpu(out)
print("AWQ g64 ppl", text_perplexity(q, tok).median, flush=True)
