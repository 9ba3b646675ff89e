"""A TCP proxy that drops connections, for the e2e tests of resuming a followed job log.

    drop_proxy.py --upstream 127.0.0.1:PORT --port-file FILE [--cut-bytes N] [--cuts K]

Listens on 127.0.0.1 with an ephemeral port (written to FILE once listening) and forwards to the
upstream. Each of the first K connections is closed after N bytes have gone from the upstream to
the client, mid-stream, as a dropped network connection would be; later connections are left
alone. Stdlib only; runs until killed.
"""

import argparse
import os
import socket
import threading


def pump(src: socket.socket, dst: socket.socket, limit, both) -> None:
    sent = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if limit is not None and sent + len(data) >= limit:
                dst.sendall(data[: limit - sent])
                break
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    finally:
        for s in both:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--cut-bytes", type=int, default=4096)
    parser.add_argument("--cuts", type=int, default=2)
    args = parser.parse_args()
    host, port = args.upstream.rsplit(":", 1)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"127.0.0.1:{listener.getsockname()[1]}\n")
    os.replace(tmp, args.port_file)

    connections = 0
    while True:
        client, _ = listener.accept()
        limit = args.cut_bytes if connections < args.cuts else None
        connections += 1
        try:
            upstream = socket.create_connection((host, int(port)))
        except OSError:
            client.close()
            continue
        both = (client, upstream)
        threading.Thread(target=pump, args=(client, upstream, None, both), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, limit, both), daemon=True).start()


if __name__ == "__main__":
    main()
