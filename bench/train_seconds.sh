# Sourced by the benches that give runs the same training time (bench/vq_vs_ddpm.sh, bench/pairs_kjv_web.sh).
#
# train_seconds DIR: the seconds of training in DIR/metrics.jsonl, ms_per_step times the steps since the previous
# record, summed (evaluations and checkpoints left out); 0 when there is no metrics.jsonl.
train_seconds() {
  [ -f "$1/metrics.jsonl" ] || { echo 0; return; }
  awk 'match($0, /"step":[0-9]+/) { s = substr($0, RSTART + 7, RLENGTH - 7) + 0
         if (match($0, /"ms_per_step":[0-9.eE+-]+/)) { total += (s - prev) * substr($0, RSTART + 14, RLENGTH - 14) / 1000; prev = s } }
       END { printf "%.1f\n", total }' "$1/metrics.jsonl"
}
# below SECONDS BUDGET: true while SECONDS < BUDGET.
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
