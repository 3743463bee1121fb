#!/usr/bin/env bash
# Processes benchmark: N activity events over K keys through a 15-activity
# DCR graph (generated here: responses, includes, excludes, a condition
# and a milestone, so that events are both executed and refused), beside
# the same events with the process removed: the cost of enforcement
# (refused events are counted, as without --dead-letter), and the same
# pair through the engine alone (benches' engine_only: events decoded
# first, only Engine::push timed). Reported, never asserted. Median of
# REPEAT runs; the two `cep run`s alternate.
#
# Usage: benches/processes.sh   Environment: N=1000000 K=2000 REPEAT=3 CEP=<target>/release/cep
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
K="${K:-2000}"
REPEAT="${REPEAT:-3}"
echo "building (cargo build --release -p cep) ..." >&2
cargo build --release --quiet -p cep -p cep-benches
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
CEP="${CEP:-$target_dir/release/cep}"
OUT="$target_dir/bench-processes"
mkdir -p "$OUT"

{
  for i in $(seq 0 14); do echo "event A$i { k: int, at: time }"; done
  echo
  echo "process P by k {"
  printf '    activities A0'; for i in $(seq 1 14); do printf ', A%d' "$i"; done; echo
  for i in $(seq 0 13); do echo "    A$i *--> A$((i + 1))"; done
  for i in $(seq 0 12); do echo "    A$i -->+ A$((i + 2))"; done
  for i in $(seq 3 14); do echo "    A$i -->% A$((i - 3))"; done
  echo "    A0 -->* A14"
  echo "    A7 --<> A8"
  echo "}"
} >"$OUT/with.cep"
for i in $(seq 0 14); do echo "event A$i { k: int, at: time }"; done >"$OUT/without.cep"
awk -v n="$N" -v k="$K" 'BEGIN { srand(42); for (i = 1; i <= n; i++) printf "{\"type\":\"A%d\",\"k\":%d,\"at\":%d}\n", int(rand() * 15), int(rand() * k), i }' >"$OUT/events.ndjson"

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
div() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN {if (b == 0) print 0; else printf "%.*f\n", d, a / b}'; }
once() {
  local name="$1" t0 t1
  shift
  t0="$(now)"
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || { cat "$OUT/$name.err" >&2; exit 1; }
  t1="$(now)"
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}
# The two runs alternate (without, with, without, ...), so that a machine
# that slows down or speeds up during the benchmark (shared, noisy) moves
# both alike; the cost is the median of the REPEAT pairs' ratios.
echo "with and without the process, $REPEAT pair(s) ..." >&2
ts_without=() ts_with=() ratios=()
for _ in $(seq "$REPEAT"); do
  a="$(once without "$CEP" run "$OUT/without.cep" --input "$OUT/events.ndjson")"
  b="$(once with "$CEP" run "$OUT/with.cep" --input "$OUT/events.ndjson")"
  ts_without+=("$a")
  ts_with+=("$b")
  ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')")
done
t_without="$(median "${ts_without[@]}")"
t_with="$(median "${ts_with[@]}")"
ratio="$(median "${ratios[@]}")"
summary="$(grep 'process instances' "$OUT/with.err" || true)"
echo "engine only, $REPEAT time(s) each ..." >&2
"$target_dir/release/engine_only" "$OUT/events.ndjson" --repeat "$REPEAT" "$OUT/without.cep" "$OUT/with.cep" >"$OUT/engine.out"
e_without="$(sed -n 1p "$OUT/engine.out" | sed 's/.*events_per_s=\([0-9]*\).*/\1/')"
e_with="$(sed -n 2p "$OUT/engine.out" | sed 's/.*events_per_s=\([0-9]*\).*/\1/')"

printf '\nCepheid processes benchmark: %d activity events, %d keys, 15 activities; median of %d; %s CPUs\n' "$N" "$K" "$REPEAT" "$(nproc)"
printf '%-48s %12s %10s\n' "measurement" "events/s" "time (s)"
printf '%-48s %12s %10.3f\n' "cep run, the process removed" "$(div "$N" "$t_without")" "$t_without"
printf '%-48s %12s %10.3f\n' "cep run, the process enforced" "$(div "$N" "$t_with")" "$t_with"
printf '%-48s %12s\n' "engine only, the process removed" "$e_without"
printf '%-48s %12s\n' "engine only, the process enforced" "$e_with"
printf '%-48s %11s%%\n' "cost of enforcement, engine only" "$(awk -v a="$e_without" -v b="$e_with" 'BEGIN {printf "%.1f", (a / b - 1) * 100}')"
printf '%-48s %11s%%\n' "cost of enforcement (wall time, median of pairs)" "$(awk -v r="$ratio" 'BEGIN {printf "%.1f", (r - 1) * 100}')"
printf '%s\n' "${summary#cep run: }"
