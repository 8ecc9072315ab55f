# What the command-line tests share, sourced with the path of build/diffuse as $1: the binary as $diffuse, a
# scratch folder (removed on exit) as the working directory, and the checks.
#   fail MESSAGE                        counts a failure and prints it
#   expect_error TEXT command...        the command must fail with TEXT in its stderr
#   first_loss RUN, last_loss RUN       the first and last logged loss of a run folder's metrics.jsonl
#   timeless FILE                       metrics.jsonl without its wall-clock fields (to compare two runs)
#   cifar FILE N SEED                   N CIFAR-10 binary records of two classes (label 0: the top half bright,
#                                       1: the bottom half), labels alternating 0, 1, pixels noisy from SEED
#   json_field FILE KEY                 a value in the file's last JSON line (loaders' notes may come before it)
#   between V LO HI                     V is a number in [LO, HI]
#   finish NAME                         the test's exit: 1 with the count of failures, or 0
diffuse=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_error() {
  local want=$1; shift
  if "$@" > out.txt 2> err.txt; then fail "expected an error from: $*"; return; fi
  grep -qF -- "$want" err.txt || fail "stderr of '$*' lacks '$want': $(cat err.txt)"
}
first_loss() { grep -o '"loss":[0-9.e+-]*' "$1/metrics.jsonl" | head -1 | cut -d: -f2; }
last_loss() { grep -o '"loss":[0-9.e+-]*' "$1/metrics.jsonl" | tail -1 | cut -d: -f2; }
timeless() { sed -E 's/"(wall_time|ms_per_step|items_per_second)":[^,}]*,?//g' "$1"; }
cifar() {
  LC_ALL=C awk -v n="$2" -v seed="$3" 'BEGIN { srand(seed); for (i = 0; i < n; i++) { c = i % 2; printf "%c", c;
    for (ch = 0; ch < 3; ch++) for (y = 0; y < 32; y++) for (x = 0; x < 32; x++) printf "%c", (((y < 16) == (c == 0)) ? 150 : 10) + int(rand() * 90) } }' > "$1"
}
json_field() { grep '^{' "$1" | tail -1 | grep -o "\"$2\":[^,}]*" | head -1 | cut -d: -f2; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v + 0 >= lo && v + 0 <= hi && v != "") }'; }
finish() {
  if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
  echo "$1: all passed"
}
