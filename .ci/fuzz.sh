#!/usr/bin/env bash
# Fuzzing campaign: runs every fuzz target of the module (or those matching the
# optional regexp) for FUZZTIME each, one after the other, niced, and prints one
# summary line per target: package, target, result, execs. A crasher that `go test
# -fuzz` finds is written by it under the package's testdata/fuzz/<Target>/ and
# becomes a regression seed that plain `go test` runs from then on.
#
#   .ci/fuzz.sh                 # every target, 10m each
#   FUZZTIME=30s .ci/fuzz.sh    # a quick pass
#   .ci/fuzz.sh 'Session|Config'  # only matching targets
#   JOBS=2 .ci/fuzz.sh          # two targets at once (each with FUZZPARALLEL workers)
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
parallel=${FUZZPARALLEL:-1}
minimize=${FUZZMINIMIZE:-10s}  # per new input; go test's 60s default starves short runs
jobs=${JOBS:-1}
filter=${1:-.}
logdir=${FUZZLOGS:-$(mktemp -d /tmp/powbroker-fuzz.XXXXXX)}
mkdir -p "$logdir"
echo "fuzz: $fuzztime per target, $parallel worker(s), $jobs at once, logs in $logdir"

targets=()
for pkg in $(go list ./...); do
  for t in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' | grep -E "$filter"); do
    targets+=("$pkg $t")
  done
done

run_one() {
  local pkg=$1 t=$2 log
  log="$logdir/$(basename "$pkg")-$t.log"
  nice -n 19 go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" -parallel "$parallel" "$pkg" >"$log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  local result=ok
  [ $rc -ne 0 ] && result=FAIL
  printf '%-50s %-28s %-5s execs=%s\n' "$pkg" "$t" "$result" "${execs:-?}"
  [ $rc -ne 0 ] && grep -E -- '--- FAIL|Failing input|panic|testdata/fuzz' "$log" | head -10
  return $rc
}

fail=0
running=0
for entry in "${targets[@]}"; do
  set -- $entry
  run_one "$1" "$2" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || fail=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || fail=1
  running=$((running - 1))
done
[ $fail -ne 0 ] && echo "fuzz: some target failed; crashers are under testdata/fuzz" && exit 1
echo "fuzz: every target passed"
