#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md in one run: top-k evaluation at N = 10^6 (issue 4), CLIP training throughput of
# ViT-B/32 in bf16 against the plain baseline (issue 4), LoRA on a Stable-Diffusion-1.5-size UNet at 512 px
# (issue 6), and the masking ablation's data-scarce cell with more seeds (issue 4). Each part has its own time
# limit; logs go to $OUT (or ./gpu-logs). Run from the repository root: bash benchmarks/gpu_checks.sh
# Seen on an H100 (2026-11-26): lora_speed ~60 s; the ablation ~50 s a run (the tiny model is data-bound, the GPU
# does not speed it up); train_speed needs more than 165 s (synthesis and separation on the CPU); N = 10^6 more
# than 40 s. The whole script needs about 20 minutes: split it over two sessions' device time.
set -u
out=${OUT:-gpu-logs}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, transformers, diffusers, datasets; print(torch.__version__, transformers.__version__, \
diffusers.__version__, datasets.__version__)" | tee -a "$out/gpu.txt"
timeout 60 python3 benchmarks/eval_speed.py --device cuda --sizes 10000 100000 --naive-max 10000 \
    2>&1 | tee "$out/eval_speed.md"
timeout 150 python3 benchmarks/eval_speed.py --device cuda --sizes 1000000 2>&1 | tee -a "$out/eval_speed.md"
timeout 120 python3 benchmarks/lora_speed.py --model sd15 --device cuda --precision bf16 --resolution 512 \
    --batch-size 8 2>&1 | grep -v "kept in float32" | tee "$out/lora_speed.md"
timeout 240 python3 benchmarks/train_speed.py --model vit-b32 --device cuda --precision bf16 --batch-size 256 \
    --workers 8 --collections 2 --tokens 500 --num-proc 1 --steps 8 --warmup 2 2>&1 | tee "$out/train_speed.md"
data=$(mktemp -d)
timeout 90 bash -c "python3 -m nft1000.cli synth --out $data/s --collections 16 --tokens 500 --seed 3 --num-proc 14 \
  && python3 -m nft1000.cli build --raw $data/s/release --out $data/d --config full --num-proc 14 \
  && python3 -m nft1000.cli components --dataset $data/d --config full --split train --out $data/d --num-proc 14" \
    > "$out/ablation_data.log" 2>&1
timeout 450 python3 benchmarks/masking_ablation.py --dataset "$data/d" --settings data-scarce --ps 0 0.3 \
    --seeds 0 1 2 --steps 300 --batch-size 64 --learning-rate 5e-4 --image-size 64 --workers 6 \
    --scarce-fraction 0.05 --output "$out/ablation.json" 2>&1 | grep -v "it/s\]" | tee "$out/ablation.md"
echo done
