"""Layer by layer: a copy of SmolLM2 before, and after autoawq's stock scale search (export_compatible, no clip):
how far each decoder layer's output and weights moved, then ln -> q/k/v and the MLP of layer 0 alone."""
import copy, torch, warnings; warnings.filterwarnings("ignore")
from pathlib import Path
from awq import AutoAWQForCausalLM
dense = Path.home()/".cache/quantbench/gguf/dense/smollm2-135m-instruct.q4_1-a9f203dd3b1a"
m = AutoAWQForCausalLM.from_pretrained(str(dense), device_map="cpu", torch_dtype=torch.float32)
orig = copy.deepcopy(m.model)
ids = [list(range(1000 + 300 * i, 1000 + 300 * i + 128)) for i in range(2)]
m.quantize(None, quant_config={"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"},
           calib_data=ids, max_calib_samples=2, max_calib_seq_len=128, export_compatible=True, apply_clip=False)
sd0, sd1 = orig.state_dict(), m.model.state_dict()
print("keys same", sd0.keys() == sd1.keys())
x = torch.randn(1, 16, 576); pos = torch.arange(16)[None]
pe = orig.model.rotary_emb(x, pos)
for i in range(3):
    a = orig.model.layers[i](x, position_embeddings=pe, position_ids=pos)
    b = m.model.model.layers[i](x, position_embeddings=pe, position_ids=pos)
    a = a[0] if isinstance(a, tuple) else a; b = b[0] if isinstance(b, tuple) else b
    print(i, "layer max diff", (a-b).abs().max().item(), a.abs().max().item())
    for n in ["input_layernorm.weight", "self_attn.q_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "post_attention_layernorm.weight"]:
        k = f"model.layers.{i}.{n}"
        print("  ", n, (sd0[k]-sd1[k]).abs().max().item(), sd0[k].data_ptr()==sd1[k].data_ptr())
print("embed", (sd0["model.embed_tokens.weight"]-sd1["model.embed_tokens.weight"]).abs().max().item())
print("norm", (sd0["model.norm.weight"]-sd1["model.norm.weight"]).abs().max().item())
print([k for k in sd0 if (sd0[k]-sd1[k]).abs().max()>0 and "layers" not in k])
L0, L1 = orig.model.layers[0], m.model.model.layers[0]
h0, h1 = L0.input_layernorm(x), L1.input_layernorm(x)
for n in ["q_proj","k_proj","v_proj"]:
    print(n, (getattr(L0.self_attn,n)(h0)-getattr(L1.self_attn,n)(h1)).abs().max().item())
print(type(L0.input_layernorm), L0.input_layernorm.__class__.forward)
import inspect; print(inspect.getsource(L0.input_layernorm.__class__.forward))
h0, h1 = L0.post_attention_layernorm(x), L1.post_attention_layernorm(x)
for n in ["gate_proj","up_proj"]:
    print(n, (getattr(L0.mlp,n)(h0)-getattr(L1.mlp,n)(h1)).abs().max().item())
print("mlp", (L0.mlp(h0)-L1.mlp(h1)).abs().max().item())
print(L1.mlp.act_fn, inspect.getsource(L0.mlp.__class__.forward))
