#!/usr/bin/env bash
# Runtime benchmark: `cep run` end to end against a hand-written Rust
# baseline, and the engine alone, on generated stock ticks. Prints one
# table; fails if `cep run` and the baseline disagree on the number of
# matches. See benches/README.md for what each row means.
#
# Usage (from anywhere; needs only cargo):  benches/run.sh
# Environment:
#   N=1000000   ticks to generate
#   K=100       symbols
#   SEED=42     generator seed
#   REPEAT=3    runs per measurement (the median is reported)
#   OUT=<target dir>/bench-run   where the input and outputs go
#   CEP=<target dir>/release/cep  the cep binary to measure
#   NO_GNU_TIME=1  measure peak RSS by polling /proc/<pid>/status VmHWM even
#                  when GNU time is installed
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-1000000}"
K="${K:-100}"
SEED="${SEED:-42}"
REPEAT="${REPEAT:-3}"
RULES=benches/rules/rise3.cep

die() {
  echo >&2
  echo "benches/run.sh: FAILED: $*" >&2
  exit 1
}

command -v cargo >/dev/null || die "cargo is required"

echo "building (cargo build --release -p cep -p cep-benches) ..." >&2
cargo build --release --quiet -p cep -p cep-benches

target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
BIN="$target_dir/release"
OUT="${OUT:-$target_dir/bench-run}"
CEP="${CEP:-$BIN/cep}"
mkdir -p "$OUT"

"$CEP" run --help >/dev/null 2>&1 ||
  die "this build of cep has no 'run' command"

now() { date +%s.%N; }
# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# a / b, with `digits` decimals (0 when b is 0).
div() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN {if (b == 0) print 0; else printf "%.*f\n", d, a / b}'; }

# Peak RSS: GNU time's -v when there is one, else /proc/<pid>/status VmHWM
# polled while the process runs.
if [ -z "${NO_GNU_TIME:-}" ] && /usr/bin/time -v true >/dev/null 2>&1; then
  RSS_HOW="/usr/bin/time -v"
else
  RSS_HOW="VmHWM polled"
fi

# timed PREFIX CMD...: runs CMD with its stderr in PREFIX.err; sets WALL
# (seconds) and RSS_KB (peak resident set, KiB).
timed() {
  local prefix="$1" t0 t1 rc=0
  shift
  if [ "$RSS_HOW" = "/usr/bin/time -v" ]; then
    t0="$(now)"
    /usr/bin/time -v -o "$prefix.time" "$@" 2>"$prefix.err" || rc=$?
    t1="$(now)"
    RSS_KB="$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$prefix.time")"
  else
    local pid v hwm=0
    t0="$(now)"
    "$@" 2>"$prefix.err" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      v="$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
      if [ -n "$v" ]; then hwm="$v"; fi
      sleep 0.01
    done
    wait "$pid" || rc=$?
    t1="$(now)"
    RSS_KB="$hwm"
  fi
  if [ "$rc" -ne 0 ]; then
    cat "$prefix.err" >&2
    die "'$*' exited with status $rc"
  fi
  WALL="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}')"
}

# The number before `what` in a summary line.
field() { grep -o "[0-9.]\+ $2" <<<"$1" | head -n 1 | awk '{print $1}'; }

echo "generating $N ticks over $K symbols (seed $SEED) ..." >&2
INPUT="$OUT/ticks.ndjson"
"$BIN/ticks" "$N" "$K" "$SEED" >"$INPUT"

# --- cep run, end to end -------------------------------------------------
echo "cep run, $REPEAT time(s) ..." >&2
walls=() owns=() rss_max=0
for _ in $(seq "$REPEAT"); do
  rm -f "$OUT/cep.ndjson"
  timed "$OUT/cep" "$CEP" run "$RULES" --input "$INPUT" --output "$OUT/cep.ndjson"
  walls+=("$WALL")
  if [ "${RSS_KB:-0}" -gt "$rss_max" ]; then rss_max="$RSS_KB"; fi
  summary="$(grep '^cep run:' "$OUT/cep.err" | tail -n 1 || true)"
  [ -n "$summary" ] || { cat "$OUT/cep.err" >&2; die "no 'cep run:' summary line on stderr"; }
  owns+=("$(field "$summary" "s,")")
done
cep_wall="$(median "${walls[@]}")"
cep_own_secs="$(median "${owns[@]}")"
cep_in="$(field "$summary" "events in")"
cep_matches="$(field "$summary" "complex events out")"
cep_dead="$(field "$summary" "dead letter")"
cep_lines="$(grep -c . "$OUT/cep.ndjson" || true)"

# --- the hand-written baseline ---------------------------------------------
echo "baseline, $REPEAT time(s) ..." >&2
walls=()
for _ in $(seq "$REPEAT"); do
  timed "$OUT/baseline" "$BIN/baseline" "$INPUT" "$OUT/baseline.ndjson"
  walls+=("$WALL")
done
base_wall="$(median "${walls[@]}")"
base_summary="$(grep '^baseline:' "$OUT/baseline.err" | tail -n 1)"
base_matches="$(field "$base_summary" "matches out")"

# --- the engine alone -------------------------------------------------------
echo "engine only (decoding first, then $REPEAT run(s) per configuration) ..." >&2
configs=("$RULES" "window=1m" "window=10m" "window=1h" "blocks=6" "blocks=9")
labels=("rise3.cep (3 blocks, window 10s)" "3 blocks, window 1m" "3 blocks, window 10m"
  "3 blocks, window 1h" "6 blocks, window 10s" "9 blocks, window 10s")
"$BIN/engine_only" "$INPUT" --repeat "$REPEAT" "${configs[@]}" >"$OUT/engine_only.txt" 2>"$OUT/engine_only.err" ||
  { cat "$OUT/engine_only.err" >&2; die "engine_only failed"; }
kv() { grep -o "$1=[^ ]*" <<<"$2" | head -n 1 | cut -d= -f2-; }

# --- the table --------------------------------------------------------------
row() { printf '%-52s %14s %9s %9s  %s\n' "$@"; }
echo
echo "Cepheid runtime benchmark: $N ticks, $K symbols, seed $SEED, median of $REPEAT; $(nproc 2>/dev/null || echo '?') CPUs"
row "measurement" "events/s" "time (s)" "matches" "notes"
row "cep run $RULES, end to end (wall)" "$(div "$N" "$cep_wall")" "$cep_wall" "$cep_matches" \
  "process wall time, NDJSON file in -> file out"
row "cep run, its own summary" "$(div "$cep_in" "$cep_own_secs")" "$cep_own_secs" "$cep_matches" \
  "$cep_in events in, $cep_dead dead letters, $cep_lines output lines"
row "baseline (serde_json + HashMap), wall" "$(div "$N" "$base_wall")" "$base_wall" "$base_matches" \
  "hand-written Rust, same file in -> file out"
row "ratio cep run / baseline (wall events/s)" "$(div "$base_wall" "$cep_wall" 2)x" "" "" \
  "baseline is $(div "$cep_wall" "$base_wall" 1)x faster"
row "cep run peak RSS" "" "" "" "$(div "$rss_max" 1024 1) MiB ($RSS_HOW)"
i=0
engine_matches=""
while IFS= read -r line; do
  row "engine only: ${labels[$i]}" "$(kv events_per_s "$line")" "$(kv secs "$line")" \
    "$(kv matches "$line")" "pre-parsed events, push + finish only; $(kv allocs_per_event "$line") allocations ($(kv bytes_per_event "$line") B) per event"
  if [ "$i" -eq 0 ]; then engine_matches="$(kv matches "$line")"; fi
  i=$((i + 1))
done <"$OUT/engine_only.txt"
echo

if [ -z "$cep_matches" ] || [ "$cep_matches" != "$base_matches" ]; then
  die "MATCH COUNTS DIFFER: cep run reported '${cep_matches}', the baseline '${base_matches}'"
fi
if [ "$engine_matches" != "$base_matches" ]; then
  die "MATCH COUNTS DIFFER: engine_only found '${engine_matches}', the baseline '${base_matches}'"
fi
echo "match counts agree: $cep_matches (cep run) = $base_matches (baseline) = $engine_matches (engine only)"
