import torch, tempfile
from pathlib import Path
from transformers import AutoTokenizer
from quantbench.methods.awq import load_gemm_on_cpu, quant_config
from quantbench.methods.awq_rtn import write_checkpoint
from quantbench.sources import ModelSource
from quantbench.run.quality import text_perplexity
from transformers import AutoConfig
dense = Path.home()/".cache/quantbench/gguf/dense/smollm2-135m-instruct.q4_1-a9f203dd3b1a"
tok = AutoTokenizer.from_pretrained(dense)
src = ModelSource("gguf:smollm2", "gguf", str(dense))
out = Path(tempfile.mkdtemp())/"rtn"
write_checkpoint(src, out, quant_config(AutoConfig.from_pretrained(dense)), "cpu")
m = load_gemm_on_cpu(out)
print("RTN g64 (no search) ppl", text_perplexity(m, tok).median)
