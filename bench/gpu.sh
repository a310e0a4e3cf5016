#!/usr/bin/env bash
# What only a CUDA GPU machine can give the bench (issue 12), in about 8 minutes:
#   1. seconds per iteration of fast / draft / paper at 512², fp32 (TF32 convolutions, torch's
#      default) against bf16 autocast                                   -> precision_cuda_512.json
#   2. the same for one whole fit of a 12 MP photo (3456²)              -> precision_cuda_12mp.json
#   3. a 12 MP denoise with the default plan, BIG_S seconds of it, and the end it predicts -> big.jsonl
#   4. with REFS=1 only: the paper configuration's full-size reference curves, the five paper
#      cases side by side on the one GPU (fp32; each cut after REF_S seconds, rows recorded as
#      they go; recorded on 2026-12-04, in results/reference.json)    -> ref_CASE.json / .log
#   5. CPU core scaling of tiles in parallel processes (1 core, 1 process with every core's
#      threads, 4 and all-core workers), with nothing else running     -> parallel.json
# Usage: bench/gpu.sh OUT_DIR   (data: DIP_BENCH_DATA, as for every bench command)
set -u
out=${1:-bench/results/gpu}
mkdir -p "$out"
py=${PYTHON:-python3}
ref_s=${REF_S:-220}
big_s=${BIG_S:-200}
export PYTHONUNBUFFERED=1
stamp() { echo "== $(date +%T) $*"; }

stamp start; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$py -c "import torch, PIL, numpy, cv2; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'PIL', PIL.__version__, 'numpy', numpy.__version__)"
$py -c "import bench.run, dip_engine.cli" || { echo "imports failed"; exit 1; }

stamp "1. s/it at 512²"
timeout 100 $py -m bench.precision --device cuda --sizes 512 --presets fast,draft,paper --iters 40 \
    --out "$out/precision_cuda_512.json"
stamp "2. s/it of a whole 12 MP fit"
timeout 90 $py -m bench.precision --device cuda --sizes 3456 --presets fast --iters 8 \
    --out "$out/precision_cuda_12mp.json"
stamp "3. 12 MP with the default plan, $big_s s"
timeout $((big_s + 60)) $py -m bench.big --device cuda --size 3000 4000 --seconds "$big_s" --out "$out/big.jsonl"

if [ "${REFS:-0}" = 1 ]; then
stamp "4. full-size references, $ref_s s"
for c in f16_denoise zebra_sr4 kate_text vase_object library_holes; do
    timeout "$ref_s" $py -m bench.run --one "$c" paper --reference --reference-file "$out/ref_$c.json" \
        --stop never --curve-every 50 --device cuda > "$out/ref_$c.log" 2>&1 &
done
wait
for c in f16_denoise zebra_sr4 kate_text vase_object library_holes; do tail -n 2 "$out/ref_$c.log"; done
fi

stamp "5. core scaling"
timeout 200 $py -m bench.parallel --size 384 --tile 128 --iters 40 --repeat 1 --workers 4 \
    --out "$out/parallel.json"
stamp end
