#!/usr/bin/env bash
# The protocol benchmarks over a simulated LAN: every member (the parties and the dealer) in
# its own network namespace, joined by veth pairs through a bridge, each sender's link shaped
# by tc netem to 0.25 ms one-way delay (0.5 ms round trip) and 10 Gbit/s. Loopback hides the
# cost of rounds; this does not.
#
# Needs root (ip netns, tc) and iproute2. Usage:
#   sudo scripts/bench-lan.sh                      # 2 parties, quic and tcp, every benchmark
#   PARTIES=3 TRANSPORTS=quic ONLY=matmul scripts/bench-lan.sh
# Output: one JSON row per benchmark (as `umbra bench ops --json`), transport in each row.
set -euo pipefail
cd "$(dirname "$0")/.."

PARTIES="${PARTIES:-2}"
TRANSPORTS="${TRANSPORTS:-quic tcp}"
ONLY="${ONLY:-}"
REPS="${REPS:-3}"
DELAY="${DELAY:-0.25ms}"
RATE="${RATE:-10gbit}"
P=umbralan
MEMBERS=$((PARTIES + 1)) # the dealer is the last member

cargo build --release --locked -q
UMBRA="$PWD/target/release/umbra"
WORK="$(mktemp -d)"

cleanup() {
    for ((m = 0; m < MEMBERS; m++)); do ip netns del "$P$m" 2>/dev/null || true; done
    ip netns del "${P}sw" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup 2>/dev/null || true
WORK="$(mktemp -d)"

ip netns add "${P}sw"
ip -n "${P}sw" link add br0 type bridge
ip -n "${P}sw" link set br0 up
hosts=()
for ((m = 0; m < MEMBERS; m++)); do
    ns="$P$m"
    ip netns add "$ns"
    ip link add "${P}v$m" type veth peer name "${P}b$m"
    ip link set "${P}v$m" netns "$ns"
    ip link set "${P}b$m" netns "${P}sw"
    ip -n "${P}sw" link set "${P}b$m" master br0
    ip -n "${P}sw" link set "${P}b$m" up
    ip -n "$ns" addr add "10.77.0.$((m + 1))/24" dev "${P}v$m"
    ip -n "$ns" link set "${P}v$m" up
    ip -n "$ns" link set lo up
    if ! tc -n "$ns" qdisc add dev "${P}v$m" root netem delay "$DELAY" rate "$RATE" limit 100000 2>/dev/null; then
        # Some kernels (e.g. minimal VM kernels) ship without sch_netem. Shape the rate with
        # tbf and say so: the delay is then not simulated, and each round of a result costs
        # one extra one-way delay ($DELAY) on a real LAN.
        tc -n "$ns" qdisc add dev "${P}v$m" root tbf rate "$RATE" burst 4mb latency 20ms
        NO_NETEM=1
    fi
    hosts+=("10.77.0.$((m + 1)):7100")
done
if [[ -n "${NO_NETEM:-}" ]]; then
    echo "# WARNING: this kernel has no netem qdisc; links are rate-shaped to $RATE (tbf) but" >&2
    echo "# carry no delay. On the LAN add rounds x $DELAY to each wall time." >&2
else
    echo "# $PARTIES parties + dealer, one namespace each; netem $DELAY one-way, $RATE" >&2
fi

"$UMBRA" keygen --parties "$PARTIES" --dealer --out "$WORK/keys" \
    --hosts "$(IFS=,; echo "${hosts[*]}")" >/dev/null
CLUSTER="$WORK/keys/cluster.toml"
bench_args=(bench ops --parties "$PARTIES" --reps "$REPS" --json)
[[ -n "$ONLY" ]] && bench_args+=(--only "$ONLY")

for transport in $TRANSPORTS; do
    session="$("$UMBRA" session)"
    net=(--transport "$transport")
    ip netns exec "$P$PARTIES" "$UMBRA" dealer --cluster "$CLUSTER" --sessions 1 "${net[@]}" &
    dealer=$!
    pids=()
    for ((i = 0; i < PARTIES; i++)); do
        cmd=(ip netns exec "$P$i" "$UMBRA" party --cluster "$CLUSTER" --id "$i"
            --session "$session" "${net[@]}" -- "$UMBRA" "${bench_args[@]}" --transport "$transport")
        # Party 0 prints the rows; the others print nothing worth keeping.
        if [[ $i == 0 ]]; then "${cmd[@]}" & else "${cmd[@]}" >/dev/null & fi
        pids+=($!)
    done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    wait "$dealer" || true
    [[ $status == 0 ]] || { echo "bench-lan: a party failed ($transport)" >&2; exit 1; }
done
