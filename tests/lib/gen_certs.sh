#!/usr/bin/env bash
# Generates a test CA and leaf certificates with the openssl CLI, into DIR:
#   ca.pem ca.key                      the CA (EC P-256)
#   NAME.pem NAME.key NAME.chain.pem   a leaf signed by the CA (chain: leaf then CA)
# Leaves: localhost (DNS:localhost, IP:127.0.0.1), a.test, b.test (DNS:b.test, DNS:*.b.test),
# rsa (RSA 2048, DNS:localhost, IP:127.0.0.1). Nothing here is secret: test material only.
#   tests/lib/gen_certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f ca.pem ] && [ -f rsa.chain.pem ] && exit 0
q() { "$@" >/dev/null 2>&1 || { echo "gen_certs: failed: $*" >&2; exit 1; }; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -keyout ca.key -out ca.pem -subj "/CN=eddy test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
leaf() { # name keyspec san
    local name=$1 key=$2 san=$3
    if [ "$key" = rsa ]; then
        q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key"
    else
        q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$name.key"
    fi
    q openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$name"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$san" >"$name.ext"
    q openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -out "$name.pem" -extfile "$name.ext"
    cat "$name.pem" ca.pem >"$name.chain.pem"
    rm -f "$name.csr" "$name.ext"
}
leaf localhost ec "DNS:localhost,IP:127.0.0.1"
leaf a.test ec "DNS:a.test"
leaf b.test ec "DNS:b.test,DNS:*.b.test"
leaf rsa rsa "DNS:localhost,IP:127.0.0.1"
