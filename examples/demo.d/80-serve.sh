# The HTTP service (sourced by examples/demo.sh inside the demo workspace): `parac serve` on a free local port, a
# workflow run over REST with curl, its events watched as they come, its gate approved over REST, the run finished,
# the metrics scraped (where the server has them), then the server stopped cleanly (SIGTERM).

step "parac serve --port 0 (any free port on 127.0.0.1)"
serve_log=$(mktemp)
parac serve --port 0 >"$serve_log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do grep -q '^parac serve: http' "$serve_log" && break; sleep 0.1; done
head -n 1 "$serve_log"
api=$(sed -n 's/^parac serve: \(http[^ ]*\).*/\1/p' "$serve_log" | head -n 1)/api/v1

step "POST /workflows/feature/runs: a high-risk change over REST (202, the run id at once)"
run_id=$(curl -sf "$api/workflows/feature/runs" -H 'content-type: application/json' \
  -d '{"inputs": {"feature": "payments (risk: high)"}, "dry_run": "echo"}' \
  | python -c 'import json, sys; print(json.load(sys.stdin)["run_id"])')
echo "run $run_id started"

# Each Server-Sent Event as one line: its name and the step it is about.
events() {
  python -c '
import json, sys
name = None
for line in sys.stdin:
    if line.startswith("event: "):
        name = line[7:].strip()
    elif line.startswith("data: ") and name:
        data = json.loads(line[6:])
        print("  %-28s %s" % (name, data.get("step") or data.get("status") or ""))'
}

step "GET /runs/$run_id/events (curl -N: its events as they happen; 4 seconds, as the run waits at the gate)"
{ curl -sN --max-time 4 "$api/runs/$run_id/events" || true; } | events

step "POST /runs/$run_id/steps/sign-off/approve"
curl -sf "$api/runs/$run_id/steps/sign-off/approve" -H 'content-type: application/json' \
  -d '{"comment": "approved over REST in the demo"}' \
  | python -c 'import json, sys; print("%(step)s: %(status)s by %(by)s" % json.load(sys.stdin))'

step "GET /runs/$run_id/events again: the rest of the run, to its end"
{ curl -sN --max-time 30 "$api/runs/$run_id/events" || true; } | events | tail -n 4

step "GET /runs/$run_id"
curl -sf "$api/runs/$run_id" | python -c '
import json, sys
run = json.load(sys.stdin)
print("run %(run_id)s (%(workflow)s): %(status)s" % run)
for step in run["steps"]:
    print("  %(id)s: %(status)s" % step)'

if curl -sf -o /dev/null "${api%/api/v1}/metrics"; then
  step "GET /metrics (Prometheus text: the workflow and HTTP series, histogram buckets left out)"
  metrics=$(curl -sf "${api%/api/v1}/metrics")
  awk '/^parac_(workflow|http)/ && !/_bucket/ && shown < 10 { print; shown++ }' <<<"$metrics"
fi

step "stop the server (SIGTERM: requests in flight finish, then it exits with the signal's status, 143)"
kill -TERM "$serve_pid"
stopped=0; wait "$serve_pid" || stopped=$?
[ "$stopped" = 143 ] && echo "parac serve stopped by SIGTERM"
grep -i traceback "$serve_log" && exit 1
rm -f "$serve_log"
