#!/bin/bash
# Capture real BGP messages between FRR, BIRD and GoBGP in network namespaces.
#
#   FRR (AS 65001) --- IPv6 fd00:cafe:1::/64 --- BIRD (AS 4200000002)
#   FRR (AS 65001) --- IPv4 169.254.179.0/30 --- GoBGP (AS 65003)
#
# Run as root: tests/vectors/bgp/capture.sh OUTDIR
# Leaves OUTDIR/bgp.pcap (tcpdump in FRR's namespace, both links) and
# OUTDIR/{frr-bird,frr-gobgp}.txt (extract.py). Every process it starts is
# killed by pid and every namespace deleted on exit, even on failure.
set -euo pipefail

OUT=$(realpath "${1:?usage: capture.sh OUTDIR}")
mkdir -p "$OUT"
HERE=$(dirname "$(realpath "$0")")
TAG=$$
NS_FRR=bgpcap-frr-$TAG
NS_BIRD=bgpcap-bird-$TAG
NS_GOBGP=bgpcap-gobgp-$TAG
DIR=$(mktemp -d /tmp/bgpcap.XXXXXX)
chmod 755 "$DIR"
chown frr:frr "$DIR" # FRR drops to user frr before writing its pid files
PIDS=()

cleanup() {
    set +e
    for f in "$DIR"/bgpd.pid "$DIR"/zebra.pid "$DIR"/bird.pid; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 1
    for ns in "$NS_FRR" "$NS_BIRD" "$NS_GOBGP"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*" >&2; }
frr() { vtysh --vty_socket "$DIR" "$@"; }
bird_cli() { ip netns exec "$NS_BIRD" birdc -s "$DIR/bird.ctl" "$@"; }
gobgp_cli() { ip netns exec "$NS_GOBGP" gobgp -u 127.0.0.1 -p 50151 "$@"; }

for ns in "$NS_FRR" "$NS_BIRD" "$NS_GOBGP"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$NS_FRR" link add name to-bird type veth peer name to-frr netns "$NS_BIRD"
ip -n "$NS_FRR" link add name to-gobgp type veth peer name to-frr netns "$NS_GOBGP"
ip -n "$NS_FRR" -6 addr add fd00:cafe:1::1/64 dev to-bird nodad
ip -n "$NS_BIRD" -6 addr add fd00:cafe:1::2/64 dev to-frr nodad
ip -n "$NS_FRR" addr add 169.254.179.1/30 dev to-gobgp
ip -n "$NS_GOBGP" addr add 169.254.179.2/30 dev to-frr
ip -n "$NS_FRR" link set to-bird up
ip -n "$NS_FRR" link set to-gobgp up
ip -n "$NS_BIRD" link set to-frr up
ip -n "$NS_GOBGP" link set to-frr up

# Capture before any daemon starts so every OPEN is seen.
ip netns exec "$NS_FRR" tcpdump -U -n -i any -s 0 -w "$OUT/bgp.pcap" 'tcp port 179' \
    2>"$DIR/tcpdump.log" &
PIDS+=($!)
sleep 1

cat >"$DIR/frr.conf" <<'EOF'
frr defaults datacenter
hostname frr
!
router bgp 65001
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor fd00:cafe:1::2 remote-as 4200000002
 neighbor fd00:cafe:1::2 capability extended-nexthop
 neighbor 169.254.179.2 remote-as 65003
 !
 address-family ipv4 unicast
  network 198.51.100.0/24
  neighbor fd00:cafe:1::2 activate
  neighbor 169.254.179.2 activate
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:1::/48
  neighbor fd00:cafe:1::2 activate
  neighbor 169.254.179.2 activate
 exit-address-family
!
EOF

cat >"$DIR/bird.conf" <<'EOF'
router id 192.0.2.2;
protocol device { }
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:2::/48 blackhole; }
protocol bgp frr {
    local fd00:cafe:1::2 as 4200000002;
    neighbor fd00:cafe:1::1 as 65001;
    ipv4 { extended next hop on; import all; export all; };
    ipv6 { import all; export all; };
}
EOF

cat >"$DIR/gobgp.toml" <<'EOF'
[global.config]
  as = 65003
  router-id = "192.0.2.3"
  port = 179
[[neighbors]]
  [neighbors.config]
    neighbor-address = "169.254.179.1"
    peer-as = 65001
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
chmod 644 "$DIR"/*.conf "$DIR"/*.toml

log "starting FRR, BIRD, GoBGP"
ip netns exec "$NS_FRR" /usr/lib/frr/zebra -d -N "$NS_FRR" -f "$DIR/frr.conf" \
    -i "$DIR/zebra.pid" -z "$DIR/zserv.api" --vty_socket "$DIR" -u frr -g frr
ip netns exec "$NS_FRR" /usr/lib/frr/bgpd -d -N "$NS_FRR" -f "$DIR/frr.conf" \
    -i "$DIR/bgpd.pid" -z "$DIR/zserv.api" --vty_socket "$DIR" -u frr -g frr
ip netns exec "$NS_BIRD" bird -c "$DIR/bird.conf" -s "$DIR/bird.ctl" -P "$DIR/bird.pid"
ip netns exec "$NS_GOBGP" gobgpd -f "$DIR/gobgp.toml" --api-hosts 127.0.0.1:50151 \
    >"$DIR/gobgpd.log" 2>&1 &
PIDS+=($!)

wait_established() { # $1 = neighbor address
    for _ in $(seq 60); do
        if frr -c "show bgp neighbors $1 json" | grep -q '"bgpState":"Established"'; then
            return 0
        fi
        sleep 1
    done
    log "no session with $1"
    return 1
}
wait_established fd00:cafe:1::2
wait_established 169.254.179.2
sleep 3
log "routes in, adding GoBGP prefixes"
gobgp_cli global rib add -a ipv4 203.0.113.128/25
gobgp_cli global rib add -a ipv6 2001:db8:3::/48
sleep 3
frr -c 'show bgp ipv4 unicast' -c 'show bgp ipv6 unicast' >&2

log "route refresh both ways"
frr -c 'clear bgp ipv4 unicast fd00:cafe:1::2 soft in'
frr -c 'clear bgp ipv4 unicast 169.254.179.2 soft in'
bird_cli reload in frr
sleep 2

log "BIRD disables the session with a shutdown communication"
bird_cli disable frr '"bird maintenance"'
sleep 2
log "GoBGP shuts down its neighbour with a reason"
gobgp_cli neighbor 169.254.179.1 shutdown --reason "gobgp maintenance" || true
sleep 2
gobgp_cli neighbor 169.254.179.1 enable || true
bird_cli enable frr
wait_established fd00:cafe:1::2
wait_established 169.254.179.2
sleep 2

log "FRR shuts down both neighbours with a shutdown message"
frr -c 'configure terminal' -c 'router bgp 65001' \
    -c 'neighbor fd00:cafe:1::2 shutdown message frr maintenance to bird' \
    -c 'neighbor 169.254.179.2 shutdown message frr maintenance to gobgp'
sleep 2
frr -c 'configure terminal' -c 'router bgp 65001' \
    -c 'no neighbor 169.254.179.2 shutdown'
wait_established 169.254.179.2
log "stopping GoBGP (SIGTERM)"
kill "${PIDS[1]}"
sleep 2

# Flush and close the capture before extracting.
kill -INT "${PIDS[0]}"
sleep 1
/usr/bin/python3 "$HERE/extract.py" "$OUT/bgp.pcap" "$OUT"
log "done: $OUT"
