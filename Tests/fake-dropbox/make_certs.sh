#!/bin/sh
# make_certs.sh DIR
#
# Creates a throw-away test CA and a server certificate for the fake Dropbox
# server: DIR/ca.pem, DIR/ca.key, DIR/server.pem, DIR/server.key.
# EC P-256 keys, valid 10 years. The server cert has
# subjectAltName IP:127.0.0.1, DNS:localhost and EKU serverAuth, and an
# authorityKeyIdentifier, so OpenSSL/libcurl, Python ssl/requests (including
# the stricter X.509 checks of Python >= 3.13) accept it when trusting ca.pem.
# Idempotent: does nothing if all four files already exist.
set -eu

dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
if [ -s "$dir/ca.pem" ] && [ -s "$dir/ca.key" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/server.key" ]; then
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no

[dn]
CN = fake-dropbox test CA

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
CNF

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
openssl req -config "$tmp/openssl.cnf" -new -x509 -sha256 -days 3650 \
    -key "$tmp/ca.key" -extensions v3_ca -out "$tmp/ca.pem"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/server.key" 2>/dev/null
openssl req -config "$tmp/openssl.cnf" -new -sha256 -key "$tmp/server.key" \
    -subj "/CN=localhost" -out "$tmp/server.csr"
openssl x509 -req -sha256 -days 3650 -in "$tmp/server.csr" \
    -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$tmp/openssl.cnf" -extensions v3_server -out "$tmp/server.pem" 2>/dev/null

# Move into place; server.pem last so a concurrent caller's "all present"
# check only passes once everything is there.
for f in ca.key ca.pem server.key server.pem; do
    mv "$tmp/$f" "$dir/$f"
done
