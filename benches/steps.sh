#!/usr/bin/env bash
# Steps benchmark: N sequences through a chain of three `emit` steps
# (benches/rules/chain3.cep), with the SQLite file store and with
# `--store :memory:`, beside the pattern-only throughput of the same input
# (benches/rules/chain3-patterns.cep); and the wall time per step of
# Eventor's three-step chain with real processes (chain3-proc.cep).
# Reported, never asserted. Median of REPEAT runs.
#
# Usage: benches/steps.sh      Environment: N=100000 REPEAT=3 CEP=<target>/release/cep
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
REPEAT="${REPEAT:-3}"
echo "building (cargo build --release -p cep) ..." >&2
cargo build --release --quiet -p cep
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
CEP="${CEP:-$target_dir/release/cep}"
OUT="$target_dir/bench-steps"
mkdir -p "$OUT"
rm -f "$OUT"/store.db*

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"type\":\"Start\",\"job\":\"j%d\"}\n", i }' >"$OUT/starts.ndjson"
echo '{"type":"Go","n":1}' >"$OUT/go.ndjson"

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
div() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN {if (b == 0) print 0; else printf "%.*f\n", d, a / b}'; }

# measure NAME CMD...: median wall seconds of REPEAT runs (stderr kept in $OUT/NAME.err).
measure() {
  local name="$1" t0 t1 ts=()
  shift
  for _ in $(seq "$REPEAT"); do
    rm -f "$OUT"/store.db*
    t0="$(now)"
    "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || { cat "$OUT/$name.err" >&2; exit 1; }
    t1="$(now)"
    ts+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
  done
  median "${ts[@]}"
}

echo "patterns only, $REPEAT time(s) ..." >&2
t_pat="$(measure patterns "$CEP" run benches/rules/chain3-patterns.cep --input "$OUT/starts.ndjson")"
echo "steps, file store, $REPEAT time(s) ..." >&2
t_file="$(measure file "$CEP" run benches/rules/chain3.cep --input "$OUT/starts.ndjson" --store "$OUT/store.db")"
echo "steps, :memory:, $REPEAT time(s) ..." >&2
t_mem="$(measure memory "$CEP" run benches/rules/chain3.cep --input "$OUT/starts.ndjson" --store :memory:)"
echo "three real processes, $REPEAT time(s) ..." >&2
t_proc="$(measure proc "$CEP" run benches/rules/chain3-proc.cep --input "$OUT/go.ndjson" --store :memory:)"

runs=$((N * 3))
grep -q "$runs step runs: $runs succeeded" "$OUT/file.err" || { echo "file store: not all step runs succeeded" >&2; cat "$OUT/file.err" >&2; exit 1; }
grep -q "$runs step runs: $runs succeeded" "$OUT/memory.err" || { echo ":memory: not all step runs succeeded" >&2; exit 1; }

printf '\nCepheid steps benchmark: %d sequences x 3 emit steps = %d step runs; median of %d; %s CPUs\n' "$N" "$runs" "$REPEAT" "$(nproc)"
printf '%-52s %12s %10s\n' "measurement" "per second" "time (s)"
printf '%-52s %12s %10.3f\n' "patterns only (same input), events" "$(div "$N" "$t_pat")" "$t_pat"
printf '%-52s %12s %10.3f\n' "steps, SQLite file store (WAL), step runs" "$(div "$runs" "$t_file")" "$t_file"
printf '%-52s %12s %10.3f\n' "steps, --store :memory:, step runs" "$(div "$runs" "$t_mem")" "$t_mem"
printf '%-52s %12s %10.3f\n' "three-step chain of /bin/true, whole run" "" "$t_proc"
printf '%-52s %12s ms\n' "  per step (Eventor: about 2 s)" "$(div "$(awk -v t="$t_proc" 'BEGIN {print t * 1000}')" 3 1)"
