# Workflows, offline (sourced by examples/demo.sh inside the demo workspace): plan a run against the budgets,
# run the feature workflow, stop a high-risk run at its sign-off gate, approve it, resume it.

step "parac workflow plan feature (tokens and dollars per step, checked against every budget)"
parac workflow plan feature --input feature="a /health endpoint"

step "parac workflow run feature --dry-run echo"
parac workflow run feature --input feature="a /health endpoint" --dry-run echo

step "a high-risk change waits at its sign-off gate; approve it, then resume the run"
run_id=$(parac workflow run feature --input "feature=payments (risk: high)" --dry-run echo --no-wait --json \
  | python -c 'import json, sys; print(json.load(sys.stdin)["run_id"])')
parac workflow status "$run_id"
parac workflow approve "$run_id" sign-off --comment "reviewed in the demo"
parac workflow resume "$run_id"

step "parac workflow run code-review --dry-run echo"
parac workflow run code-review --input change="rename utils.parse to parse_config" --dry-run echo

step "parac workflow runs"
parac workflow runs
