# usage: BUDGET=SECONDS bash lab/gpu-session.sh STEP...   (on the device: run(), carrying .gpu-site and .scratch; each STEP is a function below)
# e.g.   BUDGET=540 bash lab/gpu-session.sh env_info warm "sess e8 --qb-modes eager --qb-methods fp16,nf4 -k 'generate and bs1' --benchmark-compare"
#        "NEED=170 fsess c3 --benchmark-compare" skips a step that has less than 170 s left, rather than
#        start it and lose it to the call's limit (on 2026-12-04 three steps were cut off that way)
#        "LIMIT=150 sess ..." stops that step after 150 s (a probe that may hang on compiling)
#        (sess NAME passes the rest to pytest benches with --qb-cache-dir, --qb-report-dir and --qb-baseline-dir set here)
# Results go to $OUT/r.tgz only: the device tool returns at most 8 files, and a second loop re-tars
# every 15 s, so a call cut off by its time limit still returns what every step wrote so far
# (on 2026-11-25 a cut-off call lost a session file that existed on the device).
# torchao (.scratch/tao) only for the methods that need it: transformers imports it whenever it is
# installed (2.4 s of each session's start on lease R, 2026-12-04); NOTAO=1 leaves it out, as a
# default install (without quantbench[torchao]) would.
# Both folders with the tree pass the 64 MiB carry limit no more (44 + 9 + 21 MB, refused on
# 2026-12-04): carry .scratch/site.tar.xz instead (5.4 MB; `tar cJf .scratch/site.tar.xz .gpu-site
# .scratch/tao` here), unpacked on the device into /tmp/site.
SITE=$PWD; if [ -f .scratch/site.tar.xz ]; then SITE=/tmp/site; mkdir -p $SITE; tar xJf .scratch/site.tar.xz -C $SITE; fi
TAO=$SITE/.scratch/tao; [ -n "${NOTAO:-}" ] && TAO=
export PYTHONPATH=$SITE/.gpu-site:${TAO:+$TAO:}$PWD/src:$PWD/lab HF_HUB_OFFLINE=1
END=$((SECONDS+${BUDGET:-540})); R=/tmp/qb-results/r; mkdir -p $R
C="-p no:cacheprovider -p quantbench.plugin --qb-cache-dir /tmp/qbc"  # not pip-installed there: load the plugin by name
pack() { local t=$OUT/r.$BASHPID.part; tar czf $t -C /tmp/qb-results r 2>/dev/null && mv $t $OUT/r.tgz || rm -f $t; }  # own temp name: the packer loop and a step may pack at once
( while kill -0 $$ 2>/dev/null; do sleep 15; pack; done ) & PACKER=$!
step() { local name=$1; shift; local s=$SECONDS; local left=$((END-SECONDS)); [ -n "${LIMIT:-}" ] && [ $LIMIT -lt $left ] && left=$LIMIT; if [ $left -lt ${NEED:-20} ]; then echo "$name skipped (${left}s left, needs ${NEED:-20}s)" >> $R/steps.txt; return; fi
  timeout -s INT -k 20 $left "$@" > $R/$name.log 2>&1; echo "$name rc=$? $((SECONDS-s))s" >> $R/steps.txt; pack; }
env_info() { nvidia-smi > $R/nvidia-smi.txt; python3 -c "import torch,transformers,bitsandbytes,awq,triton;print(torch.__version__,torch.version.cuda,transformers.__version__,bitsandbytes.__version__,awq.__version__,triton.__version__)
try: import torchao; print('torchao',torchao.__version__,getattr(torchao,'_skip_reason',None))
except ImportError: print('torchao not on the path (NOTAO)')
try: import gemlite; print('gemlite', gemlite.__version__)
except ImportError as e: print('gemlite not importable:', e)" > $R/versions.txt 2>&1; mkdir -p $R/baselines; cp -r baselines/* $R/baselines/; }
# The serving-grade loop (issue 43): "servesess NAME SIZE MODES BATCHES", one process per size,
# every SERVEM method; e.g. "servesess s7 7b graph-compiled,graph 1" or "SERVEM=fp16,int4wo
# servesess b05 0.5b graph-compiled 1,4,16,64"; further arguments go to pytest.
SERVEM=${SERVEM:-fp16,int4wo,int8wo,fp8dq,fp8wo,bf16,nf4,awq,awq-gemlite,int8}
servesess() { local name=$1 size=$2 modes=$3 batches=$4; shift 4; sess $name --qb-model synthetic:qwen2.5-$size-instruct --qb-modes $modes --qb-batch-sizes $batches --qb-methods $SERVEM -k generate "$@"; }
disturb() { step disturb python3 lab/disturb.py "$@"; }
warm() { step warm python3 -c "
from quantbench.config import build_settings; from quantbench.sources import resolve_source; from quantbench.methods import LoadRequest; from quantbench.methods import awq; import time
s=build_settings({}, {'cache_dir':'/tmp/qbc'}); src=resolve_source(s.model, s.cache_dir, s.seed); t=time.time()
print(awq.prepare(LoadRequest(src,'cuda',s.cache_dir,None,s.seed)), round(time.time()-t,1),'s')"; }
sess() { local name=$1; shift; mkdir -p $R/$name; step $name python3 -m pytest benches $C --qb-report-dir $R/$name --qb-baseline-dir ${BASE:-$R/baselines} --benchmark-json $R/$name/bench.json "$@"; }
# cprof NAME ARGS: one session under cProfile (NAME.prof; slows Python work: for where load and start
# time goes, not for figures); imptime: import times of the plugin's and runner's modules.
cprof() { local name=$1; shift; mkdir -p $R/$name; step $name python3 -m cProfile -o $R/$name.prof -m pytest benches $C --qb-report-dir $R/$name --qb-baseline-dir $R/fresh "$@"; }
imptime() { step imptime python3 -X importtime -c "import quantbench.plugin, quantbench.run.runner, quantbench.methods.awq, awq"; }
# setup: each step of a session's set-up before the first load, and a full collection before and after freeze_heap;
# then a real Runner's set-up in a fresh process with the checkpoint cached (cProfile)
setup() { step setup python3 lab/setup_probe.py; step setup-runner python3 lab/setup_probe.py --runner; }
# fsess: the same against R/fresh, a baseline folder that starts empty on each machine (issue 19's
# flow on one lease: "fsess upd --qb-update-baseline", then "fsess cK --benchmark-compare").
fsess() { mkdir -p $R/fresh; BASE=$R/fresh sess "$@"; }
# The size map (issue 24): one process per (size, mode), every map method, interleaved with FP16.
# e.g. "mapsess m7c 7b compiled"; MAPM / MAPK override the methods and the case selection; any
# further arguments go to pytest ("mapsess cfree 0.5b compiled --qb-steady off": no CPU pin, to
# compare compile time with a pinned session, whose inductor workers start before the pin).
MAPM=${MAPM:-fp16,bf16,nf4,awq,int8wo,int4wo,fp8wo,fp8dq}; MAPK=${MAPK:-generate and bs1 or prefill and len128}
mapsess() { local name=$1 size=$2 mode=$3; shift 3; sess $name --qb-scenario decode-128 --qb-model synthetic:qwen2.5-$size-instruct --qb-modes $mode --qb-methods $MAPM -k "$MAPK" --qb-interleave "$@"; }
# Which of an earlier method's passes makes the next one's host time dearer (issue 24; BF16 compiled
# after FP16 paid 1.8-2.7x FP16's host time a token with the same kernels and Python calls):
# "orderab 0.5b compiled" runs FP16 then BF16 with the work pass whole, without the CUDA profiler
# and without the Python-call count (quantbench.testing.nowork), with CUPTI torn down after each
# primed trace (lab/teardown_plugin.py: are the counts whole, is the cost gone?), then BF16
# alone in its process.
orderab() { local size=$1 mode=$2 v extra
  for v in whole profile calls teardown; do case $v in whole) extra= ;;
      teardown) extra="-p teardown_plugin --qb-teardown-cupti" ;;
      *) extra="-p quantbench.testing.nowork --qb-skip-pass $v" ;; esac
    NEED=${ONEED:-60} MAPM=fp16,bf16 MAPK='generate and bs1' mapsess o$v-$mode $size $mode $extra; done
  NEED=${ONEED:-60} MAPM=bf16 MAPK='generate and bs1' mapsess oalone-$mode $size $mode; }
# Same-host A/B with --pairs auto, FP16 batch-1 generate (issue 19): "abauto abI", and
# "MAXP=3 abauto abS --head-args '-p quantbench.testing.slowdown --qb-slowdown 0.25'"; ARGS go to ab.
abauto() { local name=$1; shift; step $name python3 -m quantbench ab --base python3 --head python3 --pairs auto \
  --max-pairs ${MAXP:-4} --out $R/$name "$@" -- $C --qb-methods fp16 -k 'generate and bs1'; }
# Issue 19 item 3, with warm rounds: FP16 batch-1 eager in N processes a side, --qb-steady on and
# off alternating ("steadyab 6"); lab/steady_spread.py reads R/st*on and R/st*off.
steadyab() { local i; for i in $(seq 1 $1); do for side in on off; do
  NEED=40 sess st$i$side --qb-methods fp16 -k 'generate and bs1' --qb-steady $side; done; done; }
# Two steps at once on a two-GPU host (nvidia-h200-x2): pair "STEP A" "STEP B" runs A on GPU 0 and the
# first half of the CPUs, B on GPU 1 and the second half (each session then pins itself to four CPUs
# of its half), e.g. pair "mapsess m15c 1.5b compiled" "mapsess m3c 3b compiled".
pair() { local n=$(nproc); local h=$((n/2)) a b
  ( taskset -cp 0-$((h-1)) $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0; eval "$1" ) & a=$!
  ( taskset -cp $h-$((n-1)) $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1; eval "$2" ) & b=$!
  wait $a $b; }
# Issue 23 on a two-GPU host: the default session against the committed baselines without -n and with
# -n 2, in alternating order, each pair then read by lab/xdist_check.py (xcheck-a.log, xcheck-b.log).
xdist() { NEED=200 sess n0a --benchmark-compare; NEED=120 sess n2a -n 2 --benchmark-compare
  NEED=120 sess n2b -n 2 --benchmark-compare; NEED=200 sess n0b --benchmark-compare
  NEED=5 step xcheck-a python3 lab/xdist_check.py --one $R/n0a --many $R/n2a
  NEED=5 step xcheck-b python3 lab/xdist_check.py --one $R/n0b --many $R/n2b; }
for st in "$@"; do eval "$st"; done
kill $PACKER; pack; cat $R/steps.txt
