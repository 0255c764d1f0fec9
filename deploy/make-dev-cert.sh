#!/bin/sh
# A self-signed TLS certificate for the compose stack's proxy (https://localhost:8443), valid 30 days, written to
# deploy/certs/tls.crt and deploy/certs/tls.key (gitignored; the key is readable by its owner only). Kept if
# present; `--force` replaces it. A real deployment puts its own certificate chain and key there instead.
#
# Clients must trust it: curl --cacert deploy/certs/tls.crt …, or NODE_EXTRA_CA_CERTS=deploy/certs/tls.crt for Node.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/certs"
[ "${1:-}" = "--force" ] && rm -f "$dir/tls.crt" "$dir/tls.key"
if [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ]; then
  echo "deploy/certs/tls.crt exists (use --force to replace it)"
  exit 0
fi
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,DNS:proxy,IP:127.0.0.1" \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
# nginx reads the key as root before dropping privileges; the certificate is public.
chmod 600 "$dir/tls.key"
chmod 644 "$dir/tls.crt"
echo "wrote deploy/certs/tls.crt and deploy/certs/tls.key (self-signed for localhost, 30 days)"
