"""AWQ on SmolLM2 calibrated on English text (licence files of the installed packages) instead of
random token ids, 8 x 256 tokens as quantbench uses on a CPU: is the calibration data at fault?"""
import glob, tempfile, time, torch
from pathlib import Path
from transformers import AutoTokenizer
from awq import AutoAWQForCausalLM
from quantbench.methods.awq import load_gemm_on_cpu
from quantbench.run.quality import text_perplexity
dense = Path.home()/".cache/quantbench/gguf/dense/smollm2-135m-instruct.q4_1-a9f203dd3b1a"
tok = AutoTokenizer.from_pretrained(dense)
files = sorted(glob.glob("/work/main/.venv/lib/python3.11/site-packages/*.dist-info/LICENSE*"))
text = "\n\n".join(open(f, errors="ignore").read() for f in files)
ids = tok(text)["input_ids"]
calib = [ids[i * 256:(i + 1) * 256] for i in range(8)]
print("licence files", len(files), "tokens", len(ids), flush=True)
t = time.time()
m = AutoAWQForCausalLM.from_pretrained(str(dense), device_map="cpu")
m.quantize(None, quant_config={"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"},
           calib_data=calib, max_calib_samples=8, max_calib_seq_len=256)
out = Path(tempfile.mkdtemp()) / "awq-text"
m.save_quantized(str(out))
print("quantized in", round(time.time() - t), "s", flush=True)
q = load_gemm_on_cpu(out)
print("AWQ g64 calibrated on text, ppl", text_perplexity(q, tok).median, flush=True)
