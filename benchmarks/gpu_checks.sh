#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md owed by issue 4, in one run of about 6 minutes on a 16-core H100 machine:
# top-k evaluation at N = 10^4, 10^5 and 10^6; CLIP training throughput of ViT-B/32 in bf16 against the plain
# baseline; the masking ablation's data-scarce cell, p = 0 and 0.3 with three seeds, six trainings at a time.
# Both trainings use one export with its components config: 16 synthetic collections x 500 tokens, seed 3, as
# the CPU ablation in BENCHMARKS.md (DATA=DIR to reuse one). Synthesis and separation use only the CPU: they run
# beside the evaluation, which uses the GPU. Run from the repository root: bash benchmarks/gpu_checks.sh
# (logs go to $OUT, or ./gpu-logs). Seen on an H100 (2026-11-26): the evaluation ~50 s in all (N = 10^6: 33 s);
# train_speed ~2 minutes; the data build did not finish in 200 s before separation ran with one BLAS thread.
# On the device, install carried wheels into python3's own site-packages (pip install --no-deps .whl/...), not
# with --target: datasets' fingerprinting pickles modules outside site-packages by value and fails.
set -u
out=${OUT:-gpu-logs}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log="$out/gpu_checks.md"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$log"
python3 -c "import torch, transformers, datasets; print(torch.__version__, transformers.__version__, \
datasets.__version__)" | tee -a "$log"
data=${DATA:-}
if [ -z "$data" ]; then
  data=$(mktemp -d)/d
  cli="python3 -m nft1000.cli"
  (time timeout 200 bash -c "$cli synth --out $data-s --collections 16 --tokens 500 --seed 3 --num-proc 13 \
    && $cli build --raw $data-s/release --out $data --config full --num-proc 13 \
    && $cli components --dataset $data --config full --split train --out $data --num-proc 13") \
    > "$out/data.log" 2>&1 &
fi
timeout 170 python3 benchmarks/eval_speed.py --device cuda --sizes 10000 100000 1000000 --naive-max 10000 \
    2>&1 | tee -a "$log"
wait
tail -n 4 "$out/data.log" 2>/dev/null | tee -a "$log"
timeout 150 python3 benchmarks/train_speed.py --model vit-b32 --device cuda --precision bf16 --batch-size 256 \
    --workers 14 --dataset "$data" --steps 12 --warmup 4 2>&1 | grep -v "Warning" | tee -a "$log"
timeout 170 python3 benchmarks/masking_ablation.py --dataset "$data" --settings data-scarce --ps 0 0.3 \
    --seeds 0 1 2 --jobs 6 --steps 300 --batch-size 64 --learning-rate 5e-4 --image-size 64 --workers 2 \
    --scarce-fraction 0.05 --output "$out/ablation.json" 2>&1 | grep -v "it/s\]" | tee -a "$log"
echo done | tee -a "$log"
