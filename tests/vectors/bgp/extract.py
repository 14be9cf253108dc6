#!/usr/bin/python3
"""Split the TCP streams of a BGP capture into whole BGP messages.

usage: extract.py CAPTURE.pcap OUTDIR

Reassembles each TCP direction from tshark's fields (ordered by relative
sequence number, retransmitted bytes dropped), cuts it at the BGP length
field and writes one line per message, in capture order:

    <sender> <tcp stream> <type> <hex of the whole message, header included>

to OUTDIR/frr-bird.txt and OUTDIR/frr-gobgp.txt. Uses tshark only for field
extraction; the framing here is independent of Wireshark's BGP dissector.
"""

import subprocess
import sys

NAMES = {
    "fd00:cafe:1::1": "frr",
    "fd00:cafe:1::2": "bird",
    "169.254.179.1": "frr",
    "169.254.179.2": "gobgp",
}
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}


def main(pcap, outdir):
    fields = ["frame.number", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport",
              "tcp.seq", "tcp.payload"]
    cmd = ["tshark", "-r", pcap, "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    flows = {}  # (stream, sender address, sender port) -> [(seq, frame, bytes)]
    for line in out.splitlines():
        frame, stream, src4, src6, sport, seq, payload = line.split("|")
        src = src4 or src6
        flows.setdefault((int(stream), src, int(sport)), []).append(
            (int(seq), int(frame), bytes.fromhex(payload.replace(":", ""))))

    messages = []  # (frame where the message starts, sender, stream, bytes)
    for (stream, src, _sport), segs in flows.items():
        segs.sort()
        data = bytearray()
        starts = []  # (offset in data, frame) of each segment's new bytes
        expect = segs[0][0]
        for seq, frame, chunk in segs:
            if seq + len(chunk) <= expect:
                continue  # retransmission
            if seq > expect:
                sys.exit(f"gap in stream {stream} from {src} at seq {expect}")
            new = chunk[expect - seq:]
            starts.append((len(data), frame))
            data += new
            expect += len(new)
        off = 0
        while off + 19 <= len(data):
            length = int.from_bytes(data[off + 16:off + 18], "big")
            if length < 19 or off + length > len(data):
                sys.exit(f"bad framing in stream {stream} from {src} at {off}")
            frame = max(f for o, f in starts if o <= off)
            messages.append((frame, NAMES.get(src, src), stream, bytes(data[off:off + length])))
            off += length
        if off != len(data):
            print(f"stream {stream} from {src}: {len(data) - off} trailing bytes", file=sys.stderr)

    messages.sort(key=lambda m: m[0])
    for name, peer in (("frr-bird.txt", "bird"), ("frr-gobgp.txt", "gobgp")):
        streams = {m[2] for m in messages if m[1] == peer}
        with open(f"{outdir}/{name}", "w") as fh:
            for frame, sender, stream, msg in messages:
                if stream in streams:
                    kind = TYPES.get(msg[18], str(msg[18]))
                    fh.write(f"{sender} {stream} {kind} {msg.hex()}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
