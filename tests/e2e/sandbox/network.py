# Hostile: reach the network. backtestd on the host's loopback (its port is argv[1]), an
# outside address over TCP and UDP, IPv6 loopback, and the kernel's routing socket to list or
# raise interfaces. Prints BREACH and exits 0 if anything gets through.
import socket
import sys

port = int(sys.argv[1])
attempts = [
    ("tcp 127.0.0.1:%d (backtestd)" % port, socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", port)),
    ("tcp 1.1.1.1:443", socket.AF_INET, socket.SOCK_STREAM, ("1.1.1.1", 443)),
    ("udp 8.8.8.8:53", socket.AF_INET, socket.SOCK_DGRAM, ("8.8.8.8", 53)),
    ("tcp [::1]:%d" % port, socket.AF_INET6, socket.SOCK_STREAM, ("::1", port)),
    ("netlink route", socket.AF_NETLINK, socket.SOCK_RAW, None),
    ("packet socket", socket.AF_PACKET, socket.SOCK_RAW, None),
]
first_error = None
for name, family, kind, address in attempts:
    try:
        s = socket.socket(family, kind)
        if address is not None:
            s.settimeout(2)
            s.connect(address)
            if kind == socket.SOCK_DGRAM:
                s.send(b"x")
        print("BREACH: %s" % name, flush=True)
        sys.exit(0)
    except OSError as e:
        print("%s: %s" % (name, e), file=sys.stderr)
        first_error = first_error or e
raise first_error
