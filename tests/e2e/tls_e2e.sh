#!/usr/bin/env bash
# gRPC over TLS (docs/operations.md, "TLS"), with certificates made here by openssl: a CA, a
# server certificate for 127.0.0.1, a client certificate, and a stranger's CA and client
# certificate. backtestd with tls.cert/tls.key/tls.client_ca (mutual TLS): grpcurl, btctl, the
# Python client and the gateway (--backend-tls) work with the client certificate; plaintext, no
# client certificate or one from another CA are refused. Without tls.client_ca, TLS alone works
# without a client certificate. An unreadable certificate is a one-line error naming tls.cert.
. "$(dirname "$0")/lib.sh"
grpcurl=$TOOLS/grpcurl
python=$ROOT/build/venv/bin/python
pki=$WORK/pki
mkdir -p "$pki"

# make_ca NAME; make_cert NAME CA EXTENSIONS: EC P-256 keys, one day.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=$1" -keyout "$pki/$1.key" -out "$pki/$1.pem" 2>/dev/null
}
make_cert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" -CAcreateserial \
    -days 1 -extfile "$pki/$1.ext" -out "$pki/$1.pem" 2>/dev/null
}
make_ca ca
make_ca stranger-ca
make_cert server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
make_cert client ca "extendedKeyUsage=clientAuth"
make_cert stranger stranger-ca "extendedKeyUsage=clientAuth"
check "openssl made the certificates" test -s "$pki/server.pem" -a -s "$pki/client.pem" -a -s "$pki/stranger.pem"

start_server "$WORK/m" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" --tls-client-ca "$pki/ca.pem"
TOKEN=$(cat "$WORK/m/admin.token")
mtls=(-cacert "$pki/ca.pem" -cert "$pki/client.pem" -key "$pki/client.key")
check "mTLS: grpcurl with the client certificate" bash -c "
  '$grpcurl' ${mtls[*]} '$SERVER_ADDR' grpc.health.v1.Health/Check | grep -q SERVING"
check "mTLS: plaintext is refused" bash -c "! '$grpcurl' -plaintext -max-time 5 '$SERVER_ADDR' grpc.health.v1.Health/Check"
check "mTLS: no client certificate is refused" bash -c "
  ! '$grpcurl' -cacert '$pki/ca.pem' -max-time 5 '$SERVER_ADDR' grpc.health.v1.Health/Check"
check "mTLS: a client certificate of another CA is refused" bash -c "
  ! '$grpcurl' -cacert '$pki/ca.pem' -cert '$pki/stranger.pem' -key '$pki/stranger.key' -max-time 5 \
    '$SERVER_ADDR' grpc.health.v1.Health/Check"
check "mTLS: the server's certificate must chain to the CA the client trusts" bash -c "
  ! '$grpcurl' -cacert '$pki/stranger-ca.pem' -cert '$pki/client.pem' -key '$pki/client.key' -max-time 5 \
    '$SERVER_ADDR' grpc.health.v1.Health/Check"

btctl=("$BIN/btctl" --server "$SERVER_ADDR" --token "$TOKEN")
check "btctl runs a job over mTLS" "${btctl[@]}" --tls-ca "$pki/ca.pem" --tls-cert "$pki/client.pem" \
  --tls-key "$pki/client.key" run -p strategy=sma_cross -p symbols=EURUSD -p timeframe=H1 \
  -p start_date=2022-01-01 -p end_date=2022-03-01 --wait
check "btctl through the environment (BACKTEST_TLS_*)" env BACKTEST_TLS_CA="$pki/ca.pem" \
  BACKTEST_TLS_CERT="$pki/client.pem" BACKTEST_TLS_KEY="$pki/client.key" "${btctl[@]}" jobs
check "btctl without the client certificate fails" bash -c "! $(printf '%q ' "${btctl[@]}") --tls-ca '$pki/ca.pem' --timeout 5 jobs"
check "btctl: an unreadable CA file is a usage error (3)" bash -c "
  $(printf '%q ' "${btctl[@]}") --tls-ca '$WORK/none.pem' jobs; [ \$? -eq 3 ]"

check "the Python client over mTLS" "$python" -c "
from backtestd import Client
with Client('$SERVER_ADDR', '$TOKEN', tls_ca='$pki/ca.pem', tls_cert='$pki/client.pem', tls_key='$pki/client.key') as c:
    assert any(j.status == 'finished' for j in c.list_jobs()), 'no finished job'
"

start_gateway "$SERVER_ADDR" --backend-tls --backend-ca "$pki/ca.pem" --backend-cert "$pki/client.pem" \
  --backend-key "$pki/client.key"
check "the gateway over mTLS: /readyz and a REST call" bash -c "
  curl -sf --max-time 10 '$GW/readyz' >/dev/null &&
  curl -sf --max-time 10 -H 'authorization: Token $TOKEN' '$GW/api/jobs/' | grep -q finished"

# TLS without client certificates.
start_server "$WORK/t" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key"
check "TLS only: grpcurl with the CA and no client certificate" bash -c "
  '$grpcurl' -cacert '$pki/ca.pem' '$SERVER_ADDR' grpc.health.v1.Health/Check | grep -q SERVING"
check "TLS only: the Python client with tls_ca (its old name, backtestd_client)" env BACKTEST_TLS_CA="$pki/ca.pem" "$python" -c "
from backtestd_client import Client
with Client('$SERVER_ADDR', open('$WORK/t/admin.token').read().strip()) as c:
    c.list_jobs()
"
check "an unreadable certificate is a one-line error naming tls.cert" bash -c "
  ! '$BIN/backtestd' --listen 127.0.0.1:0 --db '$WORK/x/backtest.db' --tls-cert '$WORK/none.pem' \
    --tls-key '$pki/server.key' 2>'$WORK/tls.err'
  [ \$(wc -l <'$WORK/tls.err') -eq 1 ] && grep -q 'tls.cert' '$WORK/tls.err'"
finish
