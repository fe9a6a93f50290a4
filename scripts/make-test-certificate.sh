#!/usr/bin/env bash
# Writes the self-signed certificate and key the HTTPS tests use (Tests/Fixtures/tls/).
# Test-only: the key is public, so never serve anything real with it. Valid for 100 years
# so the tests do not expire; localhost and 127.0.0.1 as subject alternative names.
set -euo pipefail
cd "$(dirname "$0")/.."
out=Tests/Fixtures/tls
mkdir -p "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/localhost-key.pem" -out "$out/localhost-cert.pem" -days 36500 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
# A second key that does not belong to the certificate (the mismatch test).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/other-key.pem"
echo "wrote $out/localhost-cert.pem, $out/localhost-key.pem, $out/other-key.pem"
