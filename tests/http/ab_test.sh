#!/bin/bash
# Black-box check of the HTTP transport with real clients: ApacheBench (HTTP/1.0, with and without
# keep-alive, GET and POST) and curl (a body over 1 KiB, so curl sends "Expect: 100-continue").
# Usage: ab_test.sh path/to/http_echo_server
set -euo pipefail
server_bin=$1
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$server_bin" 2 >"$work/port" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
port=$(head -n1 "$work/port")
[[ -n $port ]] || { echo "server did not report its port"; cat "$work/stderr"; exit 1; }
url=http://127.0.0.1:$port/echo

fail() { echo "FAIL: $*"; exit 1; }

check_ab() {  # check_ab <expected requests> <expect keep-alive: 0|1> ab-args...
  local n=$1 keepalive=$2; shift 2
  local out
  out=$(timeout 120 ab -q -s 10 "$@") || fail "ab $* exited with an error: $out"
  grep -Eq "^Complete requests: +$n\$" <<<"$out" || fail "ab $*: not all requests completed: $out"
  grep -Eq "^Failed requests: +0\$" <<<"$out" || fail "ab $*: failed requests: $out"
  grep -Eq "^Non-2xx responses" <<<"$out" && fail "ab $*: non-2xx responses: $out"
  if [[ $keepalive == 1 ]]; then
    grep -Eq "^Keep-Alive requests: +$n\$" <<<"$out" || fail "ab $*: connections were not kept alive: $out"
  fi
  echo "ok: ab $*"
}

check_ab 2000 1 -k -n 2000 -c 8 "$url"
check_ab 500 0 -n 500 -c 4 "$url"
printf '{"inputs": [1, 2, 3]}' >"$work/post.json"
check_ab 1000 1 -k -n 1000 -c 4 -p "$work/post.json" -T application/json "$url"

# curl waits for "100 Continue" before sending a body over 1 KiB; --expect100-timeout longer than
# --max-time makes a server that never sends it fail the check instead of only slowing it down.
head -c 5000 /dev/zero | tr '\0' 'x' >"$work/big"
body=$(curl -sS --max-time 10 --expect100-timeout 30 --data-binary @"$work/big" "$url")
[[ $body == "POST:$(cat "$work/big")" ]] || fail "curl POST with Expect: 100-continue got a wrong body"
echo "ok: curl 100-continue"

kill -TERM $pid
status=0
wait $pid || status=$?
[[ $status == 0 ]] || fail "server exited with $status after SIGTERM"
echo "ok: SIGTERM"
