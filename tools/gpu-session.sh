# usage: bash .scratch/gpu.sh STEP...   (each STEP is a function below); results tarred into $OUT/r.tgz
export PYTHONPATH=$PWD/.gpu-site:$PWD/.scratch/tao:$PWD/src HF_HUB_OFFLINE=1
END=$((SECONDS+${BUDGET:-580})); R=$OUT/r; mkdir -p $R
C="-p no:cacheprovider --qb-cache-dir /tmp/qbc"
step() { local name=$1; shift; local s=$SECONDS; local left=$((END-SECONDS)); if [ $left -lt 20 ]; then echo "$name skipped (no time)" >> $R/steps.txt; return; fi
  timeout -s INT -k 20 $left "$@" > $R/$name.log 2>&1; echo "$name rc=$? $((SECONDS-s))s" >> $R/steps.txt; tar czf $OUT/r.tgz -C $OUT r; }
env_info() { nvidia-smi > $R/nvidia-smi.txt; python3 -c "import torch,transformers,bitsandbytes,awq,triton,torchao;print(torch.__version__,torch.version.cuda,transformers.__version__,bitsandbytes.__version__,awq.__version__,triton.__version__,torchao.__version__,getattr(torchao,\"_skip_reason\",None))" > $R/versions.txt 2>&1; mkdir -p $R/baselines; cp -r baselines/* $R/baselines/; }
diag() { step diag python3 .scratch/diag.py; }
disturb() { step disturb python3 .scratch/disturb.py "$@"; }
warm() { step warm python3 -c "
from quantbench.settings import build_settings; from quantbench.sources import resolve_source; from quantbench.methods import LoadRequest; from quantbench import awq_backend; import time
s=build_settings({}, {'cache_dir':'/tmp/qbc'}); src=resolve_source(s.model, s.cache_dir, s.seed); t=time.time()
print(awq_backend.prepare(LoadRequest(src,'cuda',s.cache_dir,None,s.seed)), round(time.time()-t,1),'s')"; }
sess() { local name=$1; shift; mkdir -p $R/$name; step $name python3 -m pytest benches $C --qb-report-dir $R/$name --qb-baseline-dir $R/baselines --benchmark-json $R/$name/bench.json "$@"; }
for st in "$@"; do eval "$st"; done
tar czf $OUT/r.tgz -C $OUT r; cat $R/steps.txt
