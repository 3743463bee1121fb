#!/usr/bin/env bash
# Runtime benchmark: `cep run` end to end (one and two threads) against a
# hand-written Rust baseline for several key counts, and the engine alone
# on a set of patterns, on generated stock ticks. Prints the tables; fails
# if `cep run`, the baseline and the engine disagree on the number of
# matches, or if one and two threads write different output. See
# benches/README.md for what each row and column means.
#
# Usage (from anywhere; needs only cargo):  benches/run.sh
# Environment:
#   N=1000000   ticks to generate
#   KEYS="100 10000 1000000"  key (symbol) counts, one end-to-end block
#               each; the first is the headline (W1 with the defaults)
#   K=...       the old name: used as KEYS when KEYS is not set
#   SEED=42     generator seed
#   REPEAT=3    runs per measurement (the median is reported)
#   REPEAT_SLOW=1  runs of the slow engine-only rows (then 1h, then any)
#   OUT=<target dir>/bench-run   where the inputs and outputs go
#   CEP=<target dir>/release/cep  the cep binary to measure
#   BEFORE=FILE  a results.tsv of an earlier run (from its OUT): every row
#               also gets its events/s over that run's
#   NO_GNU_TIME=1  measure peak RSS by polling /proc/<pid>/status VmHWM even
#                  when GNU time is installed
set -euo pipefail
cd "$(dirname "$0")/.."
started="$(date +%s)"

N="${N:-1000000}"
KEYS="${KEYS:-${K:-100 10000 1000000}}"
SEED="${SEED:-42}"
REPEAT="${REPEAT:-3}"
REPEAT_SLOW="${REPEAT_SLOW:-1}"
BEFORE="${BEFORE:-}"
RULES=benches/rules/rise3.cep

die() {
  echo >&2
  echo "benches/run.sh: FAILED: $*" >&2
  exit 1
}

command -v cargo >/dev/null || die "cargo is required"
[ -z "$BEFORE" ] || [ -r "$BEFORE" ] || die "BEFORE=$BEFORE is not a readable file"
read -r -a keys <<<"$KEYS"
[ "${#keys[@]}" -gt 0 ] || die "KEYS is empty"

echo "building (cargo build --release -p cep -p cep-benches) ..." >&2
cargo build --release --quiet -p cep -p cep-benches

target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
BIN="$target_dir/release"
OUT="${OUT:-$target_dir/bench-run}"
CEP="${CEP:-$BIN/cep}"
mkdir -p "$OUT"
built="$(date +%s)"

"$CEP" run --help >/dev/null 2>&1 ||
  die "this build of cep has no 'run' command"
# `--threads N` (N=1: decoding and matching on one thread; N=2: a decoding
# thread feeding the engine's). Without it, cep run is measured as it is,
# on one thread, and the two-thread rows are n/a.
run_help="$("$CEP" run --help 2>&1 || true)"
if grep -q -- '--threads' <<<"$run_help"; then HAS_THREADS=1; else HAS_THREADS=; fi

now() { date +%s.%N; }
# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# a / b, with `digits` decimals (0 when b is 0).
div() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN {if (b == 0) print 0; else printf "%.*f\n", d, a / b}'; }
# 1000000 -> 1,000,000
commas() { printf '%s' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

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
# The value of `key=` in an engine_only line.
kv() { grep -o " $1=[^ ]*" <<<" $2" | head -n 1 | cut -d= -f2-; }

# Results, by row id, for the tables and for results.tsv.
declare -A R
RESULTS="$OUT/results.tsv"
printf '# N=%s SEED=%s\n' "$N" "$SEED" >"$RESULTS"
if [ -n "$BEFORE" ] && ! grep -qx "# N=$N SEED=$SEED" "$BEFORE"; then
  echo "benches/run.sh: warning: BEFORE=$BEFORE was not measured with N=$N SEED=$SEED" >&2
fi
# record ID EVENTS_PER_S: one line of results.tsv.
record() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }
# before ID EVENTS_PER_S: ", x.xx x BEFORE" when BEFORE has the row.
before() {
  [ -n "$BEFORE" ] || return 0
  local old
  old="$(awk -F'\t' -v id="$1" '$1 == id {print $2}' "$BEFORE" | head -n 1)"
  if [ -n "$old" ] && [ "$old" != "0" ] && [ "$old" != "n/a" ]; then
    printf '; %sx BEFORE' "$(div "$2" "$old" 2)"
  fi
}

engine_configs=("$RULES" "window=1m" "window=10m" "window=1h" "blocks=6" "blocks=9" "benches/rules/swings.cep")
engine_labels=("rise3.cep (3 blocks next, 10s)" "3 blocks next, window 1m" "3 blocks next, window 10m"
  "3 blocks next, window 1h" "6 blocks next, 10s" "9 blocks next, 10s" "swings.cep (group {2,4}, aggregates)")
slow_configs=("join=then,window=1h" "join=any,window=1s")
slow_labels=("3 blocks then, window 1h" "3 blocks then any, window 1s")

for k in "${keys[@]}"; do
  INPUT="$OUT/ticks-$k.ndjson"
  echo "generating $N ticks over $k symbols (seed $SEED) ..." >&2
  "$BIN/ticks" "$N" "$k" "$SEED" >"$INPUT"

  # --- cep run (one thread, two threads) and the baseline, interleaved --
  echo "K=$k: cep run (one thread$([ -n "$HAS_THREADS" ] && echo ', two threads'))" \
    "and the baseline, $REPEAT time(s) each ..." >&2
  w1=() w2=() wb=() owns=() rss1=0 rss2=0 rssb=0
  for _ in $(seq "$REPEAT"); do
    out1="$OUT/cep-$k-t1.ndjson"
    rm -f "$out1"
    if [ -n "$HAS_THREADS" ]; then
      timed "$OUT/cep-t1" "$CEP" run "$RULES" --threads 1 --input "$INPUT" --output "$out1"
    else
      timed "$OUT/cep-t1" "$CEP" run "$RULES" --input "$INPUT" --output "$out1"
    fi
    w1+=("$WALL")
    if [ "${RSS_KB:-0}" -gt "$rss1" ]; then rss1="$RSS_KB"; fi
    summary="$(grep '^cep run:' "$OUT/cep-t1.err" | tail -n 1 || true)"
    [ -n "$summary" ] || { cat "$OUT/cep-t1.err" >&2; die "no 'cep run:' summary line on stderr"; }
    owns+=("$(field "$summary" "s,")")
    if [ -n "$HAS_THREADS" ]; then
      out2="$OUT/cep-$k-t2.ndjson"
      rm -f "$out2"
      timed "$OUT/cep-t2" "$CEP" run "$RULES" --threads 2 --input "$INPUT" --output "$out2"
      w2+=("$WALL")
      if [ "${RSS_KB:-0}" -gt "$rss2" ]; then rss2="$RSS_KB"; fi
      summary2="$(grep '^cep run:' "$OUT/cep-t2.err" | tail -n 1 || true)"
      [ -n "$summary2" ] || { cat "$OUT/cep-t2.err" >&2; die "no 'cep run:' summary line on stderr (--threads 2)"; }
      cmp -s "$out1" "$out2" ||
        die "OUTPUTS DIFFER (K=$k): cep run --threads 1 wrote $out1, --threads 2 wrote $out2 (cmp $out1 $out2)"
      R[$k,t2_matches]="$(field "$summary2" "complex events out")"
    fi
    timed "$OUT/baseline" "$BIN/baseline" "$INPUT" "$OUT/baseline-$k.ndjson"
    wb+=("$WALL")
    if [ "${RSS_KB:-0}" -gt "$rssb" ]; then rssb="$RSS_KB"; fi
  done
  R[$k,t1_wall]="$(median "${w1[@]}")"
  R[$k,t1_own]="$(median "${owns[@]}")"
  R[$k,t1_in]="$(field "$summary" "events in")"
  R[$k,t1_matches]="$(field "$summary" "complex events out")"
  R[$k,t1_dead]="$(field "$summary" "dead letter")"
  R[$k,t1_lines]="$(grep -c . "$out1" || true)"
  R[$k,t1_rss]="$rss1"
  if [ -n "$HAS_THREADS" ]; then
    R[$k,t2_wall]="$(median "${w2[@]}")"
    R[$k,t2_rss]="$rss2"
  fi
  R[$k,b_wall]="$(median "${wb[@]}")"
  R[$k,b_rss]="$rssb"
  base_summary="$(grep '^baseline:' "$OUT/baseline.err" | tail -n 1)"
  R[$k,b_matches]="$(field "$base_summary" "matches out")"

  # --- the engine alone: every pattern on the first K, rise3 on the others
  if [ "$k" = "${keys[0]}" ]; then
    echo "K=$k: engine only (decoding first, then $REPEAT timed run(s) and one sampling run per configuration;" \
      "then / then any: $REPEAT_SLOW timed run(s)) ..." >&2
    "$BIN/engine_only" "$INPUT" --repeat "$REPEAT" "${engine_configs[@]}" >"$OUT/engine_only-$k.txt" 2>"$OUT/engine_only.err" ||
      { cat "$OUT/engine_only.err" >&2; die "engine_only failed"; }
    "$BIN/engine_only" "$INPUT" --repeat "$REPEAT_SLOW" "${slow_configs[@]}" >>"$OUT/engine_only-$k.txt" 2>"$OUT/engine_only.err" ||
      { cat "$OUT/engine_only.err" >&2; die "engine_only failed"; }
  else
    echo "K=$k: engine only, rise3.cep ..." >&2
    "$BIN/engine_only" "$INPUT" --repeat "$REPEAT" "$RULES" >"$OUT/engine_only-$k.txt" 2>"$OUT/engine_only.err" ||
      { cat "$OUT/engine_only.err" >&2; die "engine_only failed"; }
  fi
done

# --- the tables ---------------------------------------------------------------
e2e_row() { printf '%-44s %12s %9s %9s %10s %10s  %s\n' "$@"; }
eng_row() { printf '%-44s %12s %9s %9s %10s %9s %9s  %s\n' "$@"; }
mib() { if [ "${1:-0}" -gt 0 ]; then echo "$(div "$1" 1024 1) MiB"; else echo "?"; fi; }

echo
echo "Cepheid runtime benchmark: $N ticks, seed $SEED, median of $REPEAT; $(nproc 2>/dev/null || echo '?') CPUs; peak RSS by $RSS_HOW"
echo
echo "End to end: $RULES, NDJSON file in -> file out, process wall time; wall/base = wall / baseline wall (lower is better)"
e2e_row "measurement" "events/s" "time (s)" "matches" "wall/base" "peak RSS" "notes"
if [ -n "$HAS_THREADS" ]; then t1_name="cep run --threads 1"; else t1_name="cep run (one thread: no --threads)"; fi
for k in "${keys[@]}"; do
  head="K=$(commas "$k") keys"
  if [ "$k" = "${keys[0]}" ]; then head="$head (headline)"; fi
  echo "$head"
  bw="${R[$k,b_wall]}"
  eps1="$(div "$N" "${R[$k,t1_wall]}")"
  e2e_row "  $t1_name" "$eps1" "${R[$k,t1_wall]}" "${R[$k,t1_matches]}" \
    "$(div "${R[$k,t1_wall]}" "$bw" 2)" "$(mib "${R[$k,t1_rss]}")" \
    "own summary: ${R[$k,t1_own]} s, $(div "${R[$k,t1_in]}" "${R[$k,t1_own]}") events/s; ${R[$k,t1_dead]} dead letters, ${R[$k,t1_lines]} lines out$(before "e2e/$k/t1" "$eps1")"
  record "e2e/$k/t1" "$eps1"
  if [ -n "$HAS_THREADS" ]; then
    eps2="$(div "$N" "${R[$k,t2_wall]}")"
    e2e_row "  cep run --threads 2" "$eps2" "${R[$k,t2_wall]}" "${R[$k,t2_matches]}" \
      "$(div "${R[$k,t2_wall]}" "$bw" 2)" "$(mib "${R[$k,t2_rss]}")" \
      "output identical to --threads 1 (cmp)$(before "e2e/$k/t2" "$eps2")"
    e2e_row "  two threads / one thread (wall)" "" "$(div "${R[$k,t2_wall]}" "${R[$k,t1_wall]}" 2)" "" "" "" ""
    record "e2e/$k/t2" "$eps2"
  else
    e2e_row "  cep run --threads 2" "n/a" "n/a" "" "n/a" "" "this cep has no --threads"
    e2e_row "  two threads / one thread (wall)" "" "n/a" "" "" "" ""
    record "e2e/$k/t2" "n/a"
  fi
  epsb="$(div "$N" "$bw")"
  e2e_row "  baseline (serde_json + HashMap)" "$epsb" "$bw" "${R[$k,b_matches]}" "1.00" "$(mib "${R[$k,b_rss]}")" \
    "hand-written Rust, same file in -> file out$(before "e2e/$k/baseline" "$epsb")"
  record "e2e/$k/baseline" "$epsb"
done

echo
echo "Engine only: pre-parsed events, push + finish timed; ev/s/base = events/s / the rise3 baseline's wall events/s on the same keys (higher is better)"
eng_row "measurement" "events/s" "time (s)" "matches" "ev/s/base" "allocs/ev" "B/live run" "notes"
bpr_min="" bpr_max=""
engine_row() { # K CONFIG LABEL REPEATS
  local k="$1" cfg="$2" label="$3" reps="$4" line eps bpr shed note
  line="$(grep -F " config=$cfg " "$OUT/engine_only-$k.txt" | head -n 1 || true)"
  [ -n "$line" ] || die "engine_only printed no line for $cfg (K=$k)"
  eps="$(kv events_per_s "$line")"
  bpr="$(kv bytes_per_live_run "$line")"
  shed="$(kv shed "$line")"
  note="$reps run(s); $(kv reallocs_per_event "$line") reallocs, $(kv bytes_per_event "$line") B per event; peak $(kv peak_live_runs "$line") live runs in $(kv partitions "$line") partitions, heap $(div "$(kv heap_at_peak "$line")" 1024 0) KiB"
  if [ "$shed" != "0" ]; then note="$note; SHED $shed runs"; fi
  eng_row "  $label" "$eps" "$(kv secs "$line")" "$(kv matches "$line")" \
    "$(div "$eps" "$(div "$N" "${R[$k,b_wall]}")" 2)" "$(kv allocs_per_event "$line")" "$bpr" \
    "$note$(before "engine/$k/$cfg" "$eps")"
  record "engine/$k/$cfg" "$eps"
  if [ -z "$bpr_min" ] || [ "$bpr" -lt "$bpr_min" ]; then bpr_min="$bpr"; fi
  if [ -z "$bpr_max" ] || [ "$bpr" -gt "$bpr_max" ]; then bpr_max="$bpr"; fi
  ENGINE_MATCHES="$(kv matches "$line")"
  ENGINE_ALLOCS="$(kv allocs_per_event "$line")"
  ENGINE_EPS="$eps"
}
k0="${keys[0]}"
echo "K=$(commas "$k0") keys"
for i in "${!engine_configs[@]}"; do
  engine_row "$k0" "${engine_configs[$i]}" "${engine_labels[$i]}" "$REPEAT"
  if [ "$i" -eq 0 ]; then
    R[$k0,e_matches]="$ENGINE_MATCHES" R[$k0,e_allocs]="$ENGINE_ALLOCS" R[$k0,e_eps]="$ENGINE_EPS"
  fi
done
for i in "${!slow_configs[@]}"; do
  engine_row "$k0" "${slow_configs[$i]}" "${slow_labels[$i]}" "$REPEAT_SLOW"
done
for k in "${keys[@]:1}"; do
  echo "K=$(commas "$k") keys"
  engine_row "$k" "$RULES" "rise3.cep (3 blocks next, 10s)" "$REPEAT"
  R[$k,e_matches]="$ENGINE_MATCHES"
done

# --- the targets of issue 12 (reported, never asserted) ------------------------
kbig="${keys[${#keys[@]}-1]}"
echo
echo "Targets (issue 12): measured / target"
target() { printf '  %-52s %10s  %s\n' "$@"; }
target "cep run wall / baseline wall, one thread, K=$(commas "$k0")" "$(div "${R[$k0,t1_wall]}" "${R[$k0,b_wall]}" 2)" "<= 0.85"
if [ -n "$HAS_THREADS" ]; then
  target "two threads wall / one thread wall, K=$(commas "$k0")" "$(div "${R[$k0,t2_wall]}" "${R[$k0,t1_wall]}" 2)" "<= 0.70"
else
  target "two threads wall / one thread wall, K=$(commas "$k0")" "n/a" "<= 0.70"
fi
target "engine only ev/s / baseline ev/s, rise3, K=$(commas "$k0")" "$(div "${R[$k0,e_eps]}" "$(div "$N" "${R[$k0,b_wall]}")" 2)" ">= 5"
target "allocations per event, engine only, rise3, K=$(commas "$k0")" "${R[$k0,e_allocs]}" "<= 0.01"
target "bytes per live run, engine-only rows (min-max)" "$bpr_min-$bpr_max" "<= 200"
target "cep run wall / baseline wall, one thread, K=$(commas "$kbig")" "$(div "${R[$kbig,t1_wall]}" "${R[$kbig,b_wall]}" 2)" "<= 0.75"
target "cep run peak RSS, one thread, K=$(commas "$kbig")" "$(mib "${R[$kbig,t1_rss]}")" "<= 64 MiB"
if [ -n "$BEFORE" ]; then
  echo "  engine only / today's engine: the 'x BEFORE' in each row's notes (target >= 10)"
fi
echo

# --- the hard checks ------------------------------------------------------------
for k in "${keys[@]}"; do
  cm="${R[$k,t1_matches]}" bm="${R[$k,b_matches]}" em="${R[$k,e_matches]}"
  if [ -z "$cm" ] || [ "$cm" != "$bm" ]; then
    die "MATCH COUNTS DIFFER (K=$k): cep run reported '$cm', the baseline '$bm'"
  fi
  if [ -n "$HAS_THREADS" ] && [ "${R[$k,t2_matches]}" != "$bm" ]; then
    die "MATCH COUNTS DIFFER (K=$k): cep run --threads 2 reported '${R[$k,t2_matches]}', the baseline '$bm'"
  fi
  if [ "$em" != "$bm" ]; then
    die "MATCH COUNTS DIFFER (K=$k): engine_only found '$em', the baseline '$bm'"
  fi
  echo "K=$k: match counts agree: $cm (cep run$([ -n "$HAS_THREADS" ] && echo ', both thread counts')) = $bm (baseline) = $em (engine only)"
done
end="$(date +%s)"
echo "took $((end - started)) s ($((end - built)) s after the build); results by row in $RESULTS"
