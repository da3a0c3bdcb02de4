"""The map of the H100 compiled call, which its 570 s limit cut off before the sweep wrote one:
the same sweep_map code over the partial session file the call returned."""
from pathlib import Path

from quantbench.commands.sweep import outcome
from quantbench.report.sweep_map import ModelRun, model_parameters, write_map

here = Path(__file__).parent
model = "synthetic:qwen2.5-7b-instruct"
code, status, session = outcome(124, here / "synthetic-qwen2.5-7b-instruct-session.json")
run = ModelRun(model, model_parameters(model), code, status, "h100-compiled", session)
command = ["python", "-m", "quantbench", "sweep", "--models", model, "--out", "/tmp/sw/out", "--",
           "-p", "quantbench.plugin", "-p", "no:cacheprovider", "--qb-cache-dir", "/tmp/qbc",
           "--qb-methods", "fp16,bf16,int4wo,awq,nf4,int8wo", "--qb-modes", "compiled,eager",
           "-k", "generate and bs1"]
print(write_map(here, [run], command))
