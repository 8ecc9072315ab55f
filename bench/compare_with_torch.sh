#!/usr/bin/env bash
# The engine beside PyTorch on the same workloads, threads and batch, in one run:
#   bench/compare_with_torch.sh [build-dir] [threads] [steps] [fp32|bf16]
# With bf16, the engine runs with --precision bf16 and PyTorch under torch.autocast("cpu", dtype=torch.bfloat16).
# For each workload it runs `diffuse benchmark --json` and bench/torch_benchmark.py (Debian's python3-torch),
# each in its own process (so each peak RSS is its own), and prints both median times, the ratio
# ours/PyTorch, our GFLOP/s, both peak RSS figures and the configuration PyTorch ran fastest in (the script
# tries OpenBLAS's pool at 1 and at the threads, oneDNN on and off, channels_last, inference mode). The FMA
# peak is measured once at the start; the CPU and OpenBLAS's kernel set are printed at the end.
# Both programs run with OPENBLAS_THREAD_TIMEOUT=4 (each sets it when the user has not; tensor/blas_kernels.hpp).
set -euo pipefail
build=${1:-build}
threads=${2:-2}
steps=${3:-5}
precision=${4:-fp32}
here=$(dirname "$0")
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
peak=$("$build/diffuse" benchmark --workload transformer-sample --batch 1 --steps 1 --warmup 0 --peak --json --threads "$threads" |
  field fma_peak_gflop_per_second)
printf "threads %s, steps %s (median), precision %s, FMA peak %.0f GFLOP/s (float32)\n" "$threads" "$steps" "$precision" "$peak"
printf "%-20s %10s %10s %7s %9s %8s %10s %10s  %s\n" workload "ours ms" "torch ms" ratio "GFLOP/s" "of peak" "ours MiB" \
  "torch MiB" "torch configuration"
for w in unet-train unet-sample transformer-train transformer-sample; do
  ours=$("$build/diffuse" benchmark --workload "$w" --steps "$steps" --json --threads "$threads" --precision "$precision")
  theirs=$(/usr/bin/python3 "$here/torch_benchmark.py" --workload "$w" --steps "$steps" --threads "$threads" --precision "$precision")
  o_ms=$(echo "$ours" | field ms_per_step_median); t_ms=$(echo "$theirs" | field ms_per_step_median)
  gf=$(echo "$ours" | field gflop_per_second)
  o_mb=$(echo "$ours" | field peak_rss_mib); t_mb=$(echo "$theirs" | field peak_rss_mib)
  config=$(echo "$theirs" | python3 -c "import json,sys; c=json.load(sys.stdin)['config']; print(' '.join('%s=%s' % kv for kv in c.items()))")
  python3 -c "print('%-20s %10.1f %10.1f %7.3f %9.1f %7.0f%% %10.0f %10.0f  %s' % ('$w', $o_ms, $t_ms, $o_ms / $t_ms, $gf, 100 * $gf / $peak, $o_mb, $t_mb, '$config'))"
done
echo "$theirs" | python3 -c "import json,sys; j=json.load(sys.stdin); print('CPU: %s; OpenBLAS kernels: %s; torch %s, oneDNN available: %s' % (j['cpu'], j['openblas_core'], j['torch'], j['mkldnn_available']))"
