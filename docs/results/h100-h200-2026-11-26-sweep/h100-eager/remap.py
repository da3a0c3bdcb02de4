"""The map of the H100 eager call, which its 565 s limit cut off during the 7B session (after
fp16 and nf4), before the sweep wrote one: the same sweep_map code over the four session files
the call returned (three complete, 7B partial), run from the repository root."""
from pathlib import Path

from quantbench.commands.sweep import outcome
from quantbench.report.sweep_map import ModelRun, model_parameters, write_map

here = Path(__file__).parent
sizes = ("0.5b", "1.5b", "3b", "7b")
runs = []
for size in sizes:
    model = f"synthetic:qwen2.5-{size}-instruct"
    code, status, session = outcome(124 if size == "7b" else 0,
                                    here / f"synthetic-qwen2.5-{size}-instruct-session.json")
    runs.append(ModelRun(model, model_parameters(model), code, status, "h100-eager", session))
command = ["python", "-m", "quantbench", "sweep", "--models",
           ",".join(f"synthetic:qwen2.5-{s}-instruct" for s in sizes), "--out", "/tmp/sw/out", "--",
           "-p", "quantbench.plugin", "-p", "no:cacheprovider", "--qb-cache-dir", "/tmp/qbc",
           "--qb-methods", "fp16,nf4,awq,int4wo", "--qb-modes", "eager", "-k", "generate and bs1"]
print(write_map(here, runs, command))
