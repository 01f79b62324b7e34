# Sourced by .ci/run: installs Debian's PostgreSQL if missing, starts a throwaway cluster in a
# temporary directory (as the unprivileged `postgres` user: initdb refuses root) on a free
# loopback port, with TLS on (a self-signed certificate made here), and exports
# MESSAGES_TEST_POSTGRES (the cluster's URL), MESSAGES_TEST_POSTGRES_CA (its certificate) and
# MESSAGES_TEST_POSTGRES_REQUIRED, so the PostgreSQL half of the suite runs and cannot skip.
# The cluster is stopped and removed when the calling script exits.

pg_bin=/usr/lib/postgresql/15/bin
if [ ! -x "${pg_bin}/initdb" ]; then
  echo "== installing postgresql"
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
command -v openssl >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq openssl >/dev/null; }

pg_dir="$(mktemp -d /tmp/messages-ci-pg.XXXXXX)"
pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
chown postgres "${pg_dir}"
su postgres -s /bin/sh -c "${pg_bin}/initdb -D ${pg_dir}/data -A trust -U postgres >/dev/null"
# A CA of its own and a server certificate it signs (webpki refuses a self-signed CA
# certificate used as the server's own), for the tests of sslmode=verify-full.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=messages test CA" \
  -keyout "${pg_dir}/ca.key" -out "${pg_dir}/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "${pg_dir}/data/server.key" -out "${pg_dir}/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  > "${pg_dir}/ext.cnf"
openssl x509 -req -in "${pg_dir}/server.csr" -CA "${pg_dir}/ca.crt" -CAkey "${pg_dir}/ca.key" \
  -CAcreateserial -days 2 -extfile "${pg_dir}/ext.cnf" -out "${pg_dir}/data/server.crt" 2>/dev/null
chown postgres "${pg_dir}/data/server.key" "${pg_dir}/data/server.crt"
chmod 600 "${pg_dir}/data/server.key"
cat >> "${pg_dir}/data/postgresql.conf" <<CONF
ssl = on
max_connections = 400
CONF
# A password user for the tests of passwords (trust for the rest, on loopback only).
sed -i '1i host all pwuser 127.0.0.1/32 scram-sha-256' "${pg_dir}/data/pg_hba.conf"
su postgres -s /bin/sh -c "${pg_bin}/pg_ctl -D ${pg_dir}/data -o '-k ${pg_dir} -h 127.0.0.1 -p ${pg_port}' -l ${pg_dir}/log -w start >/dev/null"
psql -q -h 127.0.0.1 -p "${pg_port}" -U postgres -c "CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD 'ci-secret'"

stop_postgres() {
  su postgres -s /bin/sh -c "${pg_bin}/pg_ctl -D ${pg_dir}/data -m fast -w stop >/dev/null" || true
  rm -rf "${pg_dir}"
}
trap stop_postgres EXIT

export MESSAGES_TEST_POSTGRES="postgres://postgres@127.0.0.1:${pg_port}"
export MESSAGES_TEST_POSTGRES_CA="${pg_dir}/ca.crt"
export MESSAGES_TEST_POSTGRES_REQUIRED=1
echo "== PostgreSQL 15 running on 127.0.0.1:${pg_port} (TLS on) for the PostgreSQL half of the suite"
