#!/usr/bin/env bash
# scripts/bench-routes.sh: a full table in, ndbgpd against FRR and BIRD.
#
#   scripts/bench-routes.sh [--prefixes N]... [--daemons ndbgp,frr,bird]
#                           (default N: 100000 and 1000000; all three daemons)
#
# For each N and each daemon (ndbgpd, FRR 8 bgpd+zebra, BIRD 2) the script
# makes two fresh namespaces joined by a veth: a feeder (GoBGP) and the
# daemon under test. GoBGP starts with its neighbour admin-down and N IPv4
# /24s pre-loaded from an MRT TABLE_DUMP_V2 file (`gobgp mrt inject global`);
# then `gobgp neighbor X enable` (T_enable). The daemon side is polled
# (~10 ms) until Established (T0: GoBGP sends its table at once from there)
# and then every ~100 ms for:
#   (a) time to RIB: all N received (ndbgpctl neighbors prefixes_received;
#       FRR `show bgp ipv4 unicast summary json` pfxRcd; BIRD
#       `show protocols all` "N imported"),
#   (b) time to kernel: all N in the namespace's main table, counted from
#       /proc/net/fib_triestat (Main: Prefixes, minus the count before the
#       feed; a dump of 1M routes with `ip route | wc -l` takes seconds,
#       the trie statistics a few ms). The final count is checked with
#       `ip -4 route show table main proto bgp` (proto bird for BIRD).
#   (c) memory: VmRSS after convergence (+1 s) minus VmRSS before the feed,
#       per route (FRR: bgpd + zebra).
# Times are from T0 and taken when the poll that saw the count returned, so
# they carry up to one poll interval plus the query's own time (vtysh on a
# busy bgpd can take long: that shows up in FRR's figures).
#
# Hold time 90 s everywhere: with a 1M-route table GoBGP (100 % CPU) sends
# nothing for more than 9 s after Established, and the daemon under test
# (ndbgpd's and FRR datacenter's default hold time is 9 s) resets the
# session with Hold Timer Expired, again and again.
#
# Sessions: ndbgpd is fed over BGP unnumbered (GoBGP `neighbor-interface`
# dials ndbgpd's link-local; IPv4 NLRI with an IPv6 next hop, RFC 8950). FRR
# and BIRD are fed over a numbered IPv4 session (192.168.0.1 - 192.168.0.2)
# as GoBGP sends no RAs (FRR accepts unnumbered peers only from an RA).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NDBGPD=$ROOT/target/release/ndbgpd
NDBGPCTL=$ROOT/target/release/ndbgpctl
FRR=/usr/lib/frr
NS_F=ndbr-feed
NS_D=ndbr-dut
TIMEOUT=300
SIZES=()
KINDS=(ndbgp frr bird)

die() { echo "bench-routes.sh: $*" >&2; exit 1; }
say() { echo "bench-routes.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefixes) SIZES+=("${2:?}"); shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --daemons) read -ra KINDS <<<"${2//,/ }"; shift 2 ;;
    *) sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
for n in "${SIZES[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 4000000 ] || die "--prefixes $n: 1 to 4000000"
done
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
for t in /usr/bin/gobgpd /usr/bin/gobgp "$FRR/bgpd" /usr/sbin/bird /usr/bin/python3; do
  [ -x "$t" ] || die "$t missing (apt-get install gobgpd frr bird2 python3)"
done
for ns in "$NS_F" "$NS_D"; do
  ! ip netns list | grep -qw "$ns" || die "namespace $ns exists: another run? (ip netns del $ns)"
done
say "building ndbgpd (cargo build --release)"
cargo build --release --quiet --bin ndbgpd --bin ndbgpctl

DIR=$(mktemp -d /tmp/ndbgp-bench-routes.XXXXXX)
chmod 0755 "$DIR"
PIDS=()
KEEP_LOGS=""

# BIRD takes several seconds to flush 1M kernel routes on SIGTERM: wait 15 s.
teardown() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 750); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  PIDS=()
  ip netns del "$NS_F" 2>/dev/null || true
  ip netns del "$NS_D" 2>/dev/null || true
}
cleanup() {
  teardown
  if [ -n "$KEEP_LOGS" ]; then echo "bench-routes.sh: logs kept in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }

poll_until() {
  local deadline=$(($(now) + $1 * 1000000000))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# MRT TABLE_DUMP_V2: a PEER_INDEX_TABLE and N RIB_IPV4_UNICAST entries,
# 11.0.0.0/24 upwards, AS_PATH 65100, ORIGIN IGP, NEXT_HOP 192.168.0.1 (the
# feeder on the numbered link: GoBGP 3.10 passes an injected next hop on to an
# eBGP peer unchanged; over the unnumbered session it sends its link-local).
gen_mrt() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import struct, sys
n = int(sys.argv[1]); out = sys.argv[2]
def rec(sub, body):
    return struct.pack('>IHHI', 0, 13, sub, len(body)) + body
with open(out, 'wb') as f:
    f.write(rec(1, struct.pack('>4sH', bytes([10, 0, 0, 4]), 0) + struct.pack('>H', 1)
            + struct.pack('>B4s4sI', 0x02, bytes([10, 0, 0, 99]), bytes([192, 0, 2, 1]), 65100)))
    attrs = (bytes([0x40, 1, 1, 0])
             + bytes([0x40, 2, 6, 2, 1]) + struct.pack('>I', 65100)
             + bytes([0x40, 3, 4, 192, 168, 0, 1]))
    tail = struct.pack('>HIH', 0, 0, len(attrs)) + attrs
    # gobgp mrt inject (3.10) loses the last ~1-2k entries of its stream (it
    # exits before the stream is flushed): pad with repeats of the first
    # prefixes, identical paths that change nothing in GoBGP's RIB.
    pad = min(n, max(20000, n // 10))
    buf = []
    for j in range(n + pad):
        i = j if j < n else j - n
        a = (11 << 24) + (i << 8)
        buf.append(rec(2, struct.pack('>IB', j, 24) + struct.pack('>I', a)[:3]
                       + struct.pack('>H', 1) + tail))
        if len(buf) >= 65536:
            f.write(b''.join(buf)); buf = []
    f.write(b''.join(buf))
EOF
}

fresh_link() {
  ip netns add "$NS_F"
  ip netns add "$NS_D"
  ip -n "$NS_F" link set lo up
  ip -n "$NS_D" link set lo up
  ip -n "$NS_F" link add eth0 type veth peer name eth0 netns "$NS_D"
}

ll_of() { ip -n "$1" -6 addr show dev eth0 scope link | awk '/inet6 fe80/ && !/tentative/ { sub("/.*", "", $2); print $2; exit }'; }

# GoBGP feeder, neighbour admin-down; $1 = the neighbour's config line.
start_feeder() {
  cat >"$DIR/gobgp.toml" <<EOF
[global.config]
  as = 65004
  router-id = "10.0.0.4"
  port = 179
[[neighbors]]
  [neighbors.config]
    $1
    peer-as = 65001
    admin-down = true
  [neighbors.timers.config]
    hold-time = 90
    keepalive-interval = 30
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
${2:-}
EOF
  ip netns exec "$NS_F" /usr/bin/gobgpd -f "$DIR/gobgp.toml" --api-hosts 127.0.0.1:50051 \
    >"$DIR/gobgpd.log" 2>&1 </dev/null &
  PIDS+=($!)
  poll_until 10 gobgp global || die "gobgpd did not start (see $DIR/gobgpd.log)"
}
gobgp() { ip netns exec "$NS_F" /usr/bin/gobgp -p 50051 "$@"; }
feeder_loaded() {
  gobgp global rib summary -a ipv4 | awk -v n="$1" '/Destination:/ { gsub(",", "", $2); ok = ($2 == n) } END { exit !ok }'
}

# Per daemon: start_X, state_X (prints "STATE COUNT"), pids_X, kproto_X.
start_ndbgp() {
  ip -n "$NS_F" link set eth0 up
  ip -n "$NS_D" link set eth0 up
  setsid ip netns exec "$NS_D" "$NDBGPD" --iface eth0 --asn 65001 --router-id 10.0.0.1 --hold-time 90 \
    --control-socket "$DIR/ndbgpd.sock" >"$DIR/ndbgpd.log" 2>&1 </dev/null &
  DUT_PIDS=($!)
  PIDS+=($!)
  poll_until 10 "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" interfaces || die "ndbgpd did not start"
  local ll=""
  for _ in $(seq 100); do ll=$(ll_of "$NS_D"); [ -n "$ll" ] && [ -n "$(ll_of "$NS_F")" ] && break; sleep 0.05; done
  [ -n "$ll" ] || die "no link-local on $NS_D eth0"
  # GoBGP's neighbor-interface reads ndbgpd's address from the neighbour table.
  for _ in $(seq 20); do
    ip netns exec "$NS_F" ping -6 -c 1 -W 1 "$ll%eth0" >/dev/null 2>&1 || true
    ip -n "$NS_F" -6 neigh show dev eth0 | grep -q "$ll" && break
  done
  # ndbgpd sends IPv6 unicast UPDATEs (End-of-RIB) even when the peer did
  # not negotiate that family; GoBGP resets such a session ("Address-family
  # rf 131073 not available"): offer ipv6-unicast too.
  start_feeder 'neighbor-interface = "eth0"' '  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"'
  NEIGH=$ll%eth0
}
state_ndbgp() {
  "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" neighbors --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
rows = json.load(sys.stdin)
rows = rows if isinstance(rows, list) else rows.get("neighbors", [])
est = [r for r in rows if r.get("state") == "Established"]
print("Established" if est else "-", sum(r.get("prefixes_received", 0) for r in est))'
}
kproto_ndbgp() { echo bgp; }

numbered() {
  ip -n "$NS_F" addr add 192.168.0.1/30 dev eth0
  ip -n "$NS_D" addr add 192.168.0.2/30 dev eth0
  ip -n "$NS_F" link set eth0 up
  ip -n "$NS_D" link set eth0 up
}

start_frr() {
  local d=$DIR/frr
  numbered
  mkdir -p "$d"
  printf 'frr defaults datacenter\nhostname dut\n!\nrouter bgp 65001\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n neighbor 192.168.0.1 remote-as 65004\n neighbor 192.168.0.1 timers 30 90\n!\n' >"$d/frr.conf"
  chown -R frr:frr "$d"
  DUT_PIDS=()
  for daemon in zebra bgpd; do
    ip netns exec "$NS_D" "$FRR/$daemon" -d -N "$NS_D" -f "$d/frr.conf" -i "$d/$daemon.pid" \
      -z "$d/zserv.api" --vty_socket "$d" -u frr -g frr >>"$d/start.log" 2>&1 || die "$daemon: see $d/start.log"
    poll_until 10 test -s "$d/$daemon.pid" || die "$daemon wrote no pid file"
    PIDS+=("$(cat "$d/$daemon.pid")")
    DUT_PIDS+=("$(cat "$d/$daemon.pid")")
  done
  poll_until 10 state_frr || die "bgpd does not answer vtysh"
  start_feeder 'neighbor-address = "192.168.0.2"'
  NEIGH=192.168.0.2
}
state_frr() {
  vtysh --vty_socket "$DIR/frr" -c 'show bgp ipv4 unicast summary json' 2>/dev/null | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin).get("peers", {}).get("192.168.0.1")
print(p.get("state", "-"), p.get("pfxRcd", 0)) if p else print("- 0")'
}
kproto_frr() { echo bgp; }
diag_frr() { vtysh --vty_socket "$DIR/frr" -c 'show ip route summary' -c 'show ip route 11.0.0.0/24' -c 'show ip nht'; }
diag_bird() { birdc -s "$DIR/bird.ctl" show protocols all; }
diag_ndbgp() { "$NDBGPCTL" --socket "$DIR/ndbgpd.sock" neighbors; }

start_bird() {
  numbered
  cat >"$DIR/bird.conf" <<'EOF'
router id 10.0.0.1;
protocol device { }
protocol kernel { ipv4 { import none; export all; }; }
protocol bgp feeder {
  local 192.168.0.2 as 65001;
  neighbor 192.168.0.1 as 65004;
  hold time 90;
  ipv4 { import all; export none; };
}
EOF
  ip netns exec "$NS_D" /usr/sbin/bird -f -c "$DIR/bird.conf" -s "$DIR/bird.ctl" >"$DIR/bird.log" 2>&1 </dev/null &
  DUT_PIDS=($!)
  PIDS+=($!)
  poll_until 10 birdc -s "$DIR/bird.ctl" show status || die "bird did not start"
  start_feeder 'neighbor-address = "192.168.0.2"'
  NEIGH=192.168.0.2
}
state_bird() {
  birdc -s "$DIR/bird.ctl" show protocols all feeder 2>/dev/null | awk '
    /BGP state:/ { s = $3 }
    /Routes:/ { r = $2 }
    END { print (s == "" ? "-" : s), (r == "" ? 0 : r) }'
}
kproto_bird() { echo bird; }

rss_kb() {
  local t=0 pid v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    t=$((t + v))
  done
  echo "$t"
}
kernel_count() {
  ip netns exec "$NS_D" cat /proc/net/fib_triestat | awk '/^Main:/ { m = 1 } m && /Prefixes:/ { print $2; exit }'
}

# One measurement; appends "kind N enable_to_est_ns rib_ns kernel_ns bytes_per_route"
# to $DIR/results.
measure() {
  local kind=$1 n=$2
  fresh_link
  "start_$kind"
  say "$kind N=$n: loading the feeder"
  local t=$(now)
  gobgp mrt inject global "$DIR/feed.mrt" >/dev/null 2>&1 || die "gobgp mrt inject failed"
  poll_until "$TIMEOUT" feeder_loaded "$n" ||
    die "feeder holds $(gobgp global rib summary -a ipv4 | grep -o 'Destination: [0-9]*') of $n prefixes"
  say "$kind N=$n: feeder loaded in $(secs $(($(now) - t))) s"
  sleep 2
  local base rss0 t_en t0="" t_rib="" t_kern="" st cnt k deadline
  base=$(kernel_count)
  rss0=$(rss_kb "${DUT_PIDS[@]}")
  t_en=$(now)
  gobgp neighbor "$NEIGH" enable >/dev/null || die "gobgp neighbor $NEIGH enable failed"
  deadline=$((t_en + TIMEOUT * 1000000000))
  while :; do
    read -r st cnt < <("state_$kind" || echo "- 0")
    t=$(now)
    if [ -z "$t0" ] && [ "$st" = Established ]; then t0=$t; fi
    if [ -n "$t0" ] && [ -z "$t_rib" ] && [ "${cnt:-0}" -ge "$n" ]; then t_rib=$t; fi
    if [ -n "$t0" ] && [ -z "$t_kern" ]; then
      k=$(kernel_count)
      if [ $((k - base)) -ge "$n" ]; then t_kern=$(now); fi
    fi
    [ -n "$t_rib" ] && [ -n "$t_kern" ] && break
    if [ "$t" -ge "$deadline" ] || { [ -z "$t0" ] && [ "$t" -ge $((t_en + 30000000000)) ]; }; then
      KEEP_LOGS=1
      diag_$kind >"$DIR/diag.txt" 2>&1 || true
      ip -n "$NS_D" -4 route | head -5 >>"$DIR/diag.txt" 2>&1 || true
      die "$kind N=$n: not converged in ${TIMEOUT}s: state $st, RIB $cnt, kernel $((${k:-$base} - base)) (logs in $DIR)"
    fi
    if [ -z "$t0" ]; then sleep 0.01; else sleep 0.1; fi
  done
  sleep 1
  local rss1 inkernel
  rss1=$(rss_kb "${DUT_PIDS[@]}")
  inkernel=$(ip -n "$NS_D" -4 route show table main proto "$("kproto_$kind")" | tee "$DIR/routes" | wc -l)
  say "$kind N=$n: e.g. $(head -1 "$DIR/routes")"
  say "$kind N=$n: Established $(secs $((t0 - t_en))) s after enable; RIB $(secs $((t_rib - t0))) s, kernel $(secs $((t_kern - t0))) s; ip route proto $("kproto_$kind"): $inkernel; RSS ${rss0} -> ${rss1} kB"
  [ "$inkernel" -ge "$n" ] || say "$kind N=$n: WARNING only $inkernel routes with proto $("kproto_$kind")"
  cp "$DIR/$kind.log" "$DIR/$kind-$n.log" 2>/dev/null || true
  teardown
  echo "$kind $n $((t0 - t_en)) $((t_rib - t0)) $((t_kern - t0)) $(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')" >>"$DIR/results"
}

: >"$DIR/results"
for n in "${SIZES[@]}"; do
  say "N=$n: generating the MRT feed"
  gen_mrt "$n" "$DIR/feed.mrt"
  for kind in "${KINDS[@]}"; do
    measure "$kind" "$n"
  done
  rm -f "$DIR/feed.mrt"
done

echo
echo "times from Established (GoBGP starts sending); ndbgpd unnumbered, FRR and BIRD numbered IPv4"
printf '%-6s %8s %10s %10s %12s %12s\n' daemon N est "to RIB" "to kernel" "bytes/route"
while read -r kind n est rib kern bpr; do
  printf '%-6s %8s %9ss %9ss %11ss %12s\n' "$kind" "$n" "$(secs "$est")" "$(secs "$rib")" "$(secs "$kern")" "$bpr"
done <"$DIR/results"
echo
printf '%-8s %8s %14s %14s %14s\n' ratio N "RIB time" "kernel time" "bytes/route"
for n in "${SIZES[@]}"; do
  for other in frr bird; do
    awk -v n="$n" -v o="$other" '
      $2 == n && $1 == "ndbgp" { r = $4; k = $5; b = $6 }
      $2 == n && $1 == o { or = $4; ok = $5; ob = $6 }
      function q(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
      END { printf "%-8s %8s %14s %14s %14s\n", "ndbgp/" o, n, q(r, or), q(k, ok), q(b, ob) }' "$DIR/results"
  done
done
echo
echo "targets (ndbgpd):"
while read -r kind n est rib kern bpr; do
  [ "$kind" = ndbgp ] || continue
  rate=$(awk -v n="$n" -v k="$kern" 'BEGIN { printf "%.0f", n / (k / 1e9) }')
  if [ "$n" -eq 1000000 ]; then
    awk -v r="$rib" 'BEGIN { exit !(r <= 2e9) }' && m=met || m=MISSED
    echo "  N=$n: Loc-RIB within 2 s: $m ($(secs "$rib") s)"
  fi
  awk -v r="$rate" 'BEGIN { exit !(r >= 80000) }' && m=met || m=MISSED
  echo "  N=$n: kernel install near 100k routes/s: $m ($rate routes/s overall)"
  [ "$bpr" -lt 150 ] && m=met || m=MISSED
  echo "  N=$n: under 150 bytes/route: $m ($bpr)"
done <"$DIR/results"
