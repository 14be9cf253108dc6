#!/bin/sh
# Capture real ND packets (RS/RA/NS/NA) from radvd, FRR zebra, BIRD 2 and the
# Linux kernel on a veth pair between two throw-away network namespaces, and
# write them as "src dst hop_limit icmpv6-hex" lines (see README.md).
#
# usage (root): tests/vectors/nd/capture.sh OUTDIR
set -eu

OUT=$(realpath "$1")
W=$(mktemp -d /tmp/ndcap.XXXXXX)
chmod 755 "$W"
A=ndcap-$$-a # the speaker under test
B=ndcap-$$-b # the capturing side
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 1
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add name eth0 type veth peer name eth0 netns "$B"
# A acts as a router (R flag in its NAs, radvd is happy); it announces its
# link-local with an unsolicited NA at link up (ndisc_notify).
ip netns exec "$A" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$A" sysctl -qw net.ipv6.conf.eth0.ndisc_notify=1
ip -n "$B" link set eth0 up
ip -n "$A" link set lo up
ip -n "$B" link set lo up

# start_capture NAME: tcpdump on B's eth0 until stop_capture.
start_capture() {
    ip netns exec "$B" tcpdump -q -i eth0 -U -w "$W/$1.pcap" icmp6 2>/dev/null &
    CAP=$!
    PIDS="$PIDS $CAP"
    sleep 1
}
stop_capture() {
    sleep 1
    kill "$CAP"
    wait "$CAP" 2>/dev/null || true
}
ll_of() { # ll_of NS -> the link-local of eth0 in NS
    ip -n "$1" -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1
}

# 1. Kernel: link up (DAD NS from ::, RS from B, unsolicited NA from A), then
#    ndisc6 from B (NS with source LLA, solicited NA with target LLA back).
start_capture kernel
ip -n "$A" link set eth0 up
sleep 4
ip netns exec "$B" ndisc6 -1 -r 1 "$(ll_of "$A")" eth0 >/dev/null || true
stop_capture

# 2. radvd with a prefix and an MTU option; rdisc6 solicits an answer.
cat > "$W/radvd.conf" <<CONF
interface eth0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvLinkMTU 1500;
    prefix 2001:db8:1::/64 {};
};
CONF
start_capture radvd
ip netns exec "$A" /usr/sbin/radvd -C "$W/radvd.conf" -p "$W/radvd.pid" -n -m stderr 2>"$W/radvd.log" &
RADVD=$!
PIDS="$PIDS $RADVD"
sleep 5
ip netns exec "$B" rdisc6 -1 -r 1 eth0 >/dev/null || true
sleep 4
kill "$RADVD"
wait "$RADVD" 2>/dev/null || true
stop_capture

# 3. FRR zebra with RAs on (what an unnumbered bgpd neighbour turns on).
mkdir "$W/frr"
chown frr:frr "$W/frr"
cat > "$W/frr/frr.conf" <<CONF
frr defaults datacenter
hostname ndcap
interface eth0
 ipv6 nd ra-interval 3
 no ipv6 nd suppress-ra
CONF
chown frr:frr "$W/frr/frr.conf"
start_capture frr
ip netns exec "$A" /usr/lib/frr/zebra -d -N "$A" -f "$W/frr/frr.conf" \
    -i "$W/frr/zebra.pid" -z "$W/frr/zserv.api" --vty_socket "$W/frr" \
    -u frr -g frr --log file:"$W/frr/zebra.log"
sleep 1
ZEBRA=$(cat "$W/frr/zebra.pid")
PIDS="$PIDS $ZEBRA"
sleep 5
ip netns exec "$B" rdisc6 -1 -r 1 eth0 >/dev/null || true
sleep 4
kill "$ZEBRA"
stop_capture

# 4. BIRD 2 RAdv.
cat > "$W/bird.conf" <<CONF
router id 10.255.0.1;
protocol device {}
protocol radv {
    interface "eth0" { min ra interval 3; max ra interval 4; };
}
CONF
start_capture bird
ip netns exec "$A" /usr/sbin/bird -c "$W/bird.conf" -s "$W/bird.sock" -P "$W/bird.pid"
sleep 1
BIRD=$(cat "$W/bird.pid")
PIDS="$PIDS $BIRD"
sleep 5
ip netns exec "$B" rdisc6 -1 -r 1 eth0 >/dev/null || true
sleep 4
kill "$BIRD"
stop_capture

# Extract ND messages: Debian's scapy (/usr/bin/python3) reads the pcaps.
for f in kernel radvd frr bird; do
    cp "$W/$f.pcap" "$OUT/$f.pcap"
    /usr/bin/python3 - "$W/$f.pcap" > "$OUT/$f.txt" <<'PY'
import sys
from scapy.all import rdpcap, IPv6
print("# src dst hop_limit icmpv6-bytes-hex  (from %s)" % sys.argv[1].rsplit("/", 1)[-1])
for p in rdpcap(sys.argv[1]):
    if IPv6 in p and p[IPv6].nh == 58:
        icmp = bytes(p[IPv6].payload)
        if 133 <= icmp[0] <= 136:
            print(p[IPv6].src, p[IPv6].dst, p[IPv6].hlim, icmp.hex())
PY
done
echo "written to $OUT"
