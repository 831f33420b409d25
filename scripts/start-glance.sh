#!/usr/bin/env bash
# A real OpenStack Keystone + Glance on loopback for the integration tests (the comments at
# each step say why it is the way it is).
#
#   eval "$(scripts/start-glance.sh start)"   # prints `export OS_*=...` lines on stdout
#   scripts/start-glance.sh stop              # TERM (then KILL) the servers by their pid files
#   scripts/start-glance.sh kill-glance       # SIGKILL glance (tests: a crash mid-upload)
#   scripts/start-glance.sh restart-glance    # start glance again on the same state
#   scripts/start-glance.sh env               # print the exports again
#
# Everything lives under $GLANCE_BASE (default target/openstack): venv/ is cached between runs
# (reinstalled when scripts/glance-constraints.txt changes), state/ is wiped on every start.
# Needs only python3 (>= 3.11, with venv) and PyPI. Diagnostics go to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${GLANCE_BASE:-$ROOT/target/openstack}
VENV=$BASE/venv
S=$BASE/state
KEYSTONE_PORT=${KEYSTONE_PORT:-5000}
GLANCE_PORT=${GLANCE_PORT:-9292}
CONSTRAINTS=$ROOT/scripts/glance-constraints.txt
ADMIN_PASSWORD=admin-secret
DEMO_PASSWORD=demo-secret
GLANCE_SERVICE_PASSWORD=glance-secret
KEYSTONE_URL=http://127.0.0.1:$KEYSTONE_PORT
GLANCE_URL=http://127.0.0.1:$GLANCE_PORT

log() { echo "start-glance: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

install_venv() {
    local want have=""
    want=$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)
    [[ -f $VENV/.stamp ]] && have=$(cat "$VENV/.stamp")
    if [[ $want == "$have" && -x $VENV/bin/gunicorn && -x $VENV/bin/openstack ]]; then
        return
    fi
    log "installing glance, keystone, gunicorn, openstackclient into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -c "$CONSTRAINTS" \
        glance keystone gunicorn python-openstackclient >&2
    echo "$want" >"$VENV/.stamp"
}

port_free() {
    "$VENV/bin/python" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

# Wait (bounded) until URL answers with HTTP < 500; gunicorn keeps a crash-looping port open.
wait_ready() {
    local url=$1 name=$2
    "$VENV/bin/python" - "$url" <<'EOF' || die "$name did not become ready at $url (see $S/log/)"
import sys, time, urllib.request, urllib.error
url = sys.argv[1]
deadline = time.time() + 60
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=3)
        sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code < 500:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.3)
sys.exit(1)
EOF
}

write_configs() {
    rm -rf "$S"
    mkdir -p "$S"/{etc/glance,etc/keystone,log,images,staging,tasks,lock,fernet-keys,credential-keys}
    cat >"$S/etc/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $S/log/keystone.log

[database]
connection = sqlite:///$S/keystone.sqlite

[identity]
# bcrypt cost 4 instead of 12 (set before bootstrap): tokens in 0.2 s instead of 0.65 s
password_hash_rounds = 4

[token]
provider = fernet

[fernet_tokens]
key_repository = $S/fernet-keys

[fernet_receipts]
key_repository = $S/fernet-keys

[credential]
key_repository = $S/credential-keys
EOF
    # keystone's oslo.config parses sys.argv: under gunicorn it must be cleared first.
    cat >"$S/etc/keystone/keystone_wsgi.py" <<'EOF'
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
    cat >"$S/etc/glance/glance-api.conf" <<EOF
[DEFAULT]
log_file = $S/log/glance-api.log
enabled_backends = fs:file

[database]
connection = sqlite:///$S/glance.sqlite

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = $S/images/

[os_glance_staging_store]
filesystem_store_datadir = $S/staging/

[os_glance_tasks_store]
filesystem_store_datadir = $S/tasks/

[oslo_concurrency]
lock_path = $S/lock

[paste_deploy]
flavor = keystone

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
user_domain_name = Default
project_domain_name = Default
project_name = service
username = glance
password = $GLANCE_SERVICE_PASSWORD
EOF
    cp "$VENV/etc/glance/glance-api-paste.ini" "$S/etc/glance/"
}

start_keystone() {
    local kc=(--config-file "$S/etc/keystone/keystone.conf")
    export OS_KEYSTONE_CONFIG_DIR=$S/etc/keystone
    {
        "$VENV/bin/keystone-manage" "${kc[@]}" db_sync
        "$VENV/bin/keystone-manage" "${kc[@]}" fernet_setup --keystone-user root --keystone-group root
        "$VENV/bin/keystone-manage" "${kc[@]}" credential_setup --keystone-user root --keystone-group root
        "$VENV/bin/keystone-manage" "${kc[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
            --bootstrap-admin-url "$KEYSTONE_URL/v3/" --bootstrap-internal-url "$KEYSTONE_URL/v3/" \
            --bootstrap-public-url "$KEYSTONE_URL/v3/" --bootstrap-region-id RegionOne
    } >>"$S/log/keystone-manage.out" 2>&1 || die "keystone-manage failed (see $S/log/keystone-manage.out)"
    setsid "$VENV/bin/gunicorn" --no-control-socket --chdir "$S/etc/keystone" \
        --bind "127.0.0.1:$KEYSTONE_PORT" --workers 1 --threads 4 --pid "$S/keystone.pid" \
        keystone_wsgi:application >>"$S/log/keystone.out" 2>&1 </dev/null &
    wait_ready "$KEYSTONE_URL/v3" keystone
}

# Bootstrap only creates the identity endpoint: add the service project, the glance service
# user, the image service + endpoints, and a non-admin `demo` user (member in project demo).
register() {
    "$VENV/bin/python" - "$KEYSTONE_URL" "$GLANCE_URL" "$ADMIN_PASSWORD" \
        "$GLANCE_SERVICE_PASSWORD" "$DEMO_PASSWORD" <<'EOF' || die "registering glance in keystone failed"
import json, sys, urllib.request
ks, glance, admin_pw, glance_pw, demo_pw = sys.argv[1:]

def call(method, path, body=None, token=None):
    req = urllib.request.Request(ks + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return r.headers, (json.loads(raw) if raw else None)

h, _ = call("POST", "/v3/auth/tokens", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": admin_pw}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
tok = h["X-Subject-Token"]
roles = {r["name"]: r["id"] for r in call("GET", "/v3/roles", token=tok)[1]["roles"]}

def project(name):
    return call("POST", "/v3/projects", {"project": {"name": name, "domain_id": "default"}}, tok)[1]["project"]["id"]

def user(name, pw, pid):
    return call("POST", "/v3/users", {"user": {"name": name, "password": pw, "domain_id": "default",
                                              "default_project_id": pid}}, tok)[1]["user"]["id"]

svc = project("service")
gid = user("glance", glance_pw, svc)
call("PUT", f"/v3/projects/{svc}/users/{gid}/roles/{roles['admin']}", token=tok)
demo = project("demo")
did = user("demo", demo_pw, demo)
for r in ("member", "reader"):
    call("PUT", f"/v3/projects/{demo}/users/{did}/roles/{roles[r]}", token=tok)
sid = call("POST", "/v3/services", {"service": {"name": "glance", "type": "image",
                                                "description": "OpenStack Image"}}, tok)[1]["service"]["id"]
for i in ("public", "internal", "admin"):
    call("POST", "/v3/endpoints", {"endpoint": {"service_id": sid, "interface": i, "url": glance,
                                                "region_id": "RegionOne"}}, tok)
EOF
}

start_glance() {
    port_free "$GLANCE_PORT" || die "port $GLANCE_PORT is already in use (a stale server? try stop)"
    export OS_GLANCE_CONFIG_DIR=$S/etc/glance
    # One worker, one thread: sqlite answers "database is locked" (500) to concurrent writers.
    setsid "$VENV/bin/gunicorn" --no-control-socket --chdir "$S" --bind "127.0.0.1:$GLANCE_PORT" \
        --workers 1 --threads 1 --timeout 600 --pid "$S/glance.pid" \
        glance.wsgi.api:application >>"$S/log/glance.out" 2>&1 </dev/null &
    wait_ready "$GLANCE_URL/healthcheck" glance
}

write_env() {
    cat >"$S/openrc" <<EOF
export OS_AUTH_URL=$KEYSTONE_URL/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
export GLANCE_URL=$GLANCE_URL
export GLANCE_BASE=$BASE
EOF
    sed -e "s/=admin$/=demo/" -e "s/=$ADMIN_PASSWORD$/=$DEMO_PASSWORD/" "$S/openrc" >"$S/demo-openrc"
}

# TERM a gunicorn master by its pid file, KILL after 10 s.
stop_one() {
    local pidfile=$S/$1.pid pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

case ${1:-} in
start)
    command -v python3 >/dev/null || die "python3 is required"
    mkdir -p "$BASE"
    install_venv
    for p in "$KEYSTONE_PORT" "$GLANCE_PORT"; do
        port_free "$p" || die "port $p is already in use (a stale server? try: $0 stop)"
    done
    write_configs
    start_keystone
    register
    "$VENV/bin/glance-manage" --config-file "$S/etc/glance/glance-api.conf" db_sync \
        >>"$S/log/glance-manage.out" 2>&1 || die "glance-manage db_sync failed (see $S/log/)"
    start_glance
    write_env
    log "keystone at $KEYSTONE_URL, glance at $GLANCE_URL (logs in $S/log)"
    cat "$S/openrc"
    ;;
stop)
    stop_one glance
    stop_one keystone
    ;;
kill-glance)
    # The master is a session leader (setsid): its pid is the process group of the worker too.
    [[ -f $S/glance.pid ]] || die "glance is not running ($S/glance.pid missing)"
    kill -KILL -- "-$(cat "$S/glance.pid")"
    rm -f "$S/glance.pid"
    ;;
restart-glance)
    stop_one glance
    start_glance
    ;;
env)
    cat "$S/openrc"
    ;;
*)
    echo "usage: $0 start|stop|kill-glance|restart-glance|env" >&2
    exit 2
    ;;
esac
