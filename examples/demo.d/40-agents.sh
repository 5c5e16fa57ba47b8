# An agent runs offline (sourced by examples/demo.sh inside the demo workspace): the echo model answers, the
# ledger records the call, and the cost report reads it back.
step "parac agents run architect --task ... (offline echo model)"
parac agents run architect --task "Sketch a /health endpoint"

step "parac costs report --by agent"
parac costs report --by agent
