# Workflows, offline (sourced by examples/demo.sh inside the demo workspace): plan a run against the budgets,
# run the feature workflow, stop a high-risk run at its sign-off gate (exit 3), approve it (the run goes on).

step "parac workflow plan feature (tokens and dollars per step, checked against every budget)"
parac workflow plan feature --input feature="a /health endpoint"

step "parac workflow run feature --dry-run echo"
parac workflow run feature --input feature="a /health endpoint" --dry-run echo

step "a high-risk change waits at its sign-off gate (exit 3: waiting for a person); approving it finishes the run"
run_id=$( (parac workflow run feature --input "feature=payments (risk: high)" --dry-run echo --no-wait --json || [ $? = 3 ]) \
  | python -c 'import json, sys; print(json.load(sys.stdin)["run_id"])')
parac workflow status "$run_id"
parac workflow approve "$run_id" sign-off --comment "reviewed in the demo"

step "parac workflow run code-review --dry-run echo"
parac workflow run code-review --input change="rename utils.parse to parse_config" --dry-run echo

step "parac workflow runs"
parac workflow runs
