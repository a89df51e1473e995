#!/bin/sh
# Makes, once, what the NATS of docker-compose.yml needs, in <dir> (a volume):
#   <dir>/server/     the server's certificate and key, the CA certificate, and passwords.env (every
#                     user's password, for nats-server's environment)
#   <dir>/<service>/  the CA certificate and that service's password, mounted by its container alone
# Run again, it keeps what is there, so passwords and certificates outlive restarts; remove <dir> for
# new ones. The CA's key is thrown away once the server's certificate is signed: nothing else is signed
# with it. Needs openssl.
set -eu
dir=${1:?usage: setup.sh <dir>}
services="ingress routing caching governance audit metering"
[ -f "$dir/server/passwords.env" ] && exit 0

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj "/CN=gateway NATS CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=nats" \
  -keyout "$work/server-key.pem" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:nats,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -set_serial "0x$(openssl rand -hex 16)" \
  -days 825 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null

mkdir -p "$dir/server"
cp "$work/ca.pem" "$work/server.pem" "$work/server-key.pem" "$dir/server/"
for service in $services; do
  # Starting with a letter: nats-server reads the variable as a configuration value, and "6e5..." is a number.
  password=pw$(openssl rand -hex 24)
  mkdir -p "$dir/$service"
  cp "$work/ca.pem" "$dir/$service/ca.pem"
  printf '%s\n' "$password" > "$dir/$service/password"
  # The gateway's containers run as an unprivileged user; each sees only its own folder.
  chmod 755 "$dir/$service"
  chmod 644 "$dir/$service/ca.pem" "$dir/$service/password"
  echo "NATS_$(echo "$service" | tr a-z A-Z)_PASSWORD=$password" >> "$work/passwords.env"
done
# Written last: its presence says the folder is complete.
mv "$work/passwords.env" "$dir/server/passwords.env"
