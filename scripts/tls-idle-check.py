#!/usr/bin/env python3
"""HTTPS under idle load: starts `memory3 serve` with the test certificate (Tests/Fixtures/tls),
opens N TLS connections that complete the handshake and then sit idle, and times GET /health on
fresh TLS connections (handshake included) meanwhile. Prints the handshake rate, the /health
median and maximum, and the server's RSS before and after. Exits 1 if /health takes 100 ms or more.

    scripts/tls-idle-check.py --bin .build/release/memory3 --idle 1000

Standard library only; loopback only.
"""
import argparse, resource, socket, ssl, statistics, subprocess, sys, time

from serverkit import rss_mb

CERT = "Tests/Fixtures/tls/localhost-cert.pem"
KEY = "Tests/Fixtures/tls/localhost-key.pem"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=".build/release/memory3")
    p.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--probes", type=int, default=20)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.idle + 256)), hard))
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    server = subprocess.Popen([a.bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", "",
                               "--model", a.model, "--tls-cert", CERT, "--tls-key", KEY],
                              stderr=subprocess.DEVNULL)
    context = ssl.create_default_context(cafile=CERT)

    def connect():
        return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")

    def health_ms():
        started = time.time()
        with connect() as c:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:80]
        return (time.time() - started) * 1000

    try:
        for _ in range(100):
            try:
                health_ms(); break
            except OSError:
                time.sleep(0.1)
        before = rss_mb(server.pid)
        started = time.time()
        idle = [connect() for _ in range(a.idle)]
        handshake_s = time.time() - started
        times = [health_ms() for _ in range(a.probes)]
        after = rss_mb(server.pid)
        print(f"{a.idle} idle TLS connections opened in {handshake_s:.2f} s ({a.idle / handshake_s:.0f} handshakes/s)")
        print(f"GET /health on a new TLS connection meanwhile: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
        print(f"server RSS {before:.0f} MB before, {after:.0f} MB with the idle connections")
        for c in idle:
            c.close()
        return 0 if max(times) < 100 else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
