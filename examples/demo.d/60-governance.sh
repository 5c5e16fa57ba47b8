# Governance, offline (sourced by examples/demo.sh inside the demo workspace): everything above left an entry on the
# hash-chained audit trail; show its end, check the chain, and ask the policies why a tool is or is not allowed.

step "parac audit tail -n 8 (who did what: plugin loads, configuration, runs, steps, approvals, tool and model calls)"
parac audit tail -n 8

step "parac audit verify (every entry's hash, the chain and the signed head record)"
parac audit verify

step "parac policy check coder shell_run (deny unless a policy grants it)"
parac policy check coder shell_run '{"command": ["pytest", "-q"]}'
parac policy check coder shell_run '{"command": ["rm", "-rf", "/"]}' || echo "(refused, as it should be)"
