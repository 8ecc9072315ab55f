# What the command-line tests share, sourced with the path of build/diffuse as $1: the binary as $diffuse, a
# scratch folder (removed on exit) as the working directory, and the checks.
#   fail MESSAGE                        counts a failure and prints it
#   expect_error TEXT command...        the command must fail with TEXT in its stderr
#   first_loss RUN, last_loss RUN       the first and last logged loss of a run folder's metrics.jsonl
#   timeless FILE                       metrics.jsonl without its wall-clock fields (to compare two runs)
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
finish() {
  if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
  echo "$1: all passed"
}
