#!/usr/bin/env bash
# Peers benchmark: the ticks workload (rules/rise3.cep, N ticks over K
# symbols) split by symbol over three local `cep run --peer` processes
# (127.0.0.1, Noise KK, SQLite stores), beside one instance alone on all
# of it, in the same run. Reported, never asserted; the one hard check is
# that every peer wrote what the single instance wrote (same number of
# lines). Median of REPEAT; single and cluster runs alternate.
#
# Usage: benches/peers.sh   Environment: N=20000 K=100 REPEAT=3 PORT=17301 CEP=<target>/release/cep
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-20000}"
K="${K:-100}"
REPEAT="${REPEAT:-3}"
PORT="${PORT:-17301}"
echo "building (cargo build --release -p cep -p cep-benches) ..." >&2
cargo build --release --quiet -p cep -p cep-benches
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
CEP="${CEP:-$target_dir/release/cep}"
OUT="$target_dir/bench-peers"
rm -rf "$OUT"
mkdir -p "$OUT"
cp benches/rules/rise3.cep "$OUT/rules.cep"
"$target_dir/release/ticks" "$N" "$K" 1 >"$OUT/all.ndjson"
names=(A B C)
for i in 0 1 2; do
  # Split by symbol: S<n> goes to peer n mod 3.
  awk -v p="$i" -F'"symbol":"S' '{ split($2, a, "\""); if (a[1] % 3 == p) print }' "$OUT/all.ndjson" >"$OUT/in${names[$i]}.ndjson"
  (cd "$OUT" && "$CEP" keygen "${names[$i]}" >/dev/null)
done

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
single() {
  local t0 t1
  t0="$(now)"
  "$CEP" run "$OUT/rules.cep" --input "$OUT/all.ndjson" --output "$OUT/single.ndjson" 2>"$OUT/single.err"
  t1="$(now)"
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}
cluster() {
  local t0 t1 i j args pids=()
  rm -f "$OUT"/*.db* "$OUT"/out*.ndjson "$OUT"/err*.txt
  t0="$(now)"
  for i in 0 1 2; do
    args=()
    for j in 0 1 2; do
      [ "$j" = "$i" ] || args+=(--peer "${names[$j]}=127.0.0.1:$((PORT + j))" --peer-key "${names[$j]}=${names[$j]}.pub")
    done
    (cd "$OUT" && exec "$CEP" run rules.cep --input "in${names[$i]}.ndjson" --output "out${names[$i]}.ndjson" \
      --store "${names[$i]}.db" --instance "${names[$i]}" --listen "127.0.0.1:$((PORT + i))" --key "${names[$i]}.key" \
      "${args[@]}" 2>"err${names[$i]}.txt") &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1="$(now)"
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}
ts_single=() ts_cluster=()
for _ in $(seq "$REPEAT"); do
  ts_single+=("$(single)")
  ts_cluster+=("$(cluster)")
done
want="$(wc -l <"$OUT/single.ndjson")"
for n in "${names[@]}"; do
  got="$(wc -l <"$OUT/out$n.ndjson")"
  [ "$got" = "$want" ] || { echo "peer $n wrote $got complex events, one instance $want" >&2; exit 1; }
done
t_single="$(median "${ts_single[@]}")"
t_cluster="$(median "${ts_cluster[@]}")"
sum() { sed -n "s/.*$1 \([0-9]*\).*/\1/p" "$OUT"/err*.txt | awk '{s += $1} END {print s + 0}'; }
sent="$(sum 'peers: sent')"
bytes="$(sed -n 's/.*peers: sent [0-9]* (\([0-9]*\) bytes).*/\1/p' "$OUT"/err*.txt | awk '{s += $1} END {print s + 0}')"

printf '\nCepheid peers benchmark: %d ticks, %d symbols, split by symbol over 3 peers; median of %d; %s CPUs\n' "$N" "$K" "$REPEAT" "$(nproc)"
printf '%-52s %12s %10s\n' "measurement" "events/s" "time (s)"
printf '%-52s %12.0f %10.3f\n' "one instance, all ticks" "$(awk -v n="$N" -v t="$t_single" 'BEGIN {print n / t}')" "$t_single"
printf '%-52s %12.0f %10.3f\n' "three peers, all ticks (cluster, end to end)" "$(awk -v n="$N" -v t="$t_cluster" 'BEGIN {print n / t}')" "$t_cluster"
for n in "${names[@]}"; do
  e="$(wc -l <"$OUT/in$n.ndjson")"
  printf '%-52s %12.0f\n' "peer $n, its own $e ticks" "$(awk -v n="$e" -v t="$t_cluster" 'BEGIN {print n / t}')"
done
printf '%-52s %12.2f\n' "messages sent per tick (all peers)" "$(awk -v a="$sent" -v n="$N" 'BEGIN {print a / n}')"
printf '%-52s %12.1f\n' "bytes sent per tick (all peers, before framing)" "$(awk -v a="$bytes" -v n="$N" 'BEGIN {print a / n}')"
printf '%-52s %11.1fx\n' "cluster time / one instance's time" "$(awk -v a="$t_cluster" -v b="$t_single" 'BEGIN {print a / b}')"
