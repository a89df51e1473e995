#!/bin/sh
# Makes, once, the certificates for mutual TLS between the gateway's processes
# in docker-compose.yml, in <dir> (a volume):
#   <dir>/<service>/ca.crt, cert.crt, cert.key   the CA's certificate, and that service's certificate and
#                                                key, mounted by its container alone
# Run again, it keeps what is there; remove <dir> for new ones. The CA's key is
# thrown away once the certificates are signed: nothing else is signed with it.
# GATEWAY: how to run the gateway's CLI (default: the image's). OWNER: who gets
# the files (the image's unprivileged user, which reads them).
set -eu
dir=${1:?usage: setup.sh <dir>}
gateway=${GATEWAY:-node dist/services/gateway/cli.js}
services="ingress routing caching governance audit metering"
[ -f "$dir/metering/cert.key" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$gateway certs init "$work" > /dev/null
# metering last: its key's presence says the folder is complete.
for service in $services; do
  mkdir -p "$dir/$service"
  cp "$work/ca.crt" "$dir/$service/ca.crt"
  cp "$work/$service.crt" "$dir/$service/cert.crt"
  cp -p "$work/$service.key" "$dir/$service/cert.key"
done
if [ -n "${OWNER:-}" ]; then chown -R "$OWNER" "$dir"; fi
