#!/usr/bin/env bash
# First throughput sanity check (not a benchmark result): each server pinned to CPU 0 with one
# worker, wrk pinned to CPU 1, 10 s per endpoint, /health and a 1-row /v1/predict.
# Usage: scripts/wrk-sanity.sh [seconds]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
# The Rust targets are the manifests that say so (frameworks/*/framework.toml); none is listed here.
rust_targets=$(grep -l '^language = "rust"' frameworks/*/framework.toml | xargs -n1 dirname | xargs -n1 basename)
for fw in $rust_targets; do cargo build --release -q -p "fw-$fw"; done
# The 1-row predict body is the corpus case predict/ok/linear-1row, so wrk sends what the suite verified.
python3 - > target/predict-1row.json <<'PY'
import json
for line in open("workloads/conformance/cases.jsonl"):
    if line.startswith("{") and json.loads(line)["name"] == "predict/ok/linear-1row":
        print(json.dumps(json.loads(line)["body"]["json"], separators=(",", ":")))
PY
lua=$(mktemp --suffix=.lua)
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = io.open("$(pwd)/target/predict-1row.json"):read("*a")
LUA
for fw in $rust_targets; do
  out=$(mktemp)
  taskset -c 0 "target/release/fw-$fw" --port 0 --workers 1 > "$out" &
  pid=$!
  for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
  addr=$(sed -n 's/^listening on //p' "$out")
  curl -sf -H 'content-type: application/json' --data-binary @target/predict-1row.json "http://$addr/v1/predict" > /dev/null
  for ep in health predict; do
    if [ "$ep" = health ]; then args=("http://$addr/health"); else args=(-s "$lua" "http://$addr/v1/predict"); fi
    printf '%-10s %-8s ' "$fw" "$ep"
    taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency "${args[@]}" | awk '/Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF} / 50%/{p50=$2} / 99%/{p99=$2} END{printf "req/s %s  p50 %s  p99 %s  non-2xx %s\n", rps, p50, p99, (bad==""?0:bad)}'
  done
  kill -TERM "$pid"; wait "$pid" || true
done
rm -f "$lua"
