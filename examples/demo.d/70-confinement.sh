# What wave 2 added, offline (sourced by examples/demo.sh inside the demo workspace): scaffolding and a set-up check
# for a new user, and tools confined by the kernel: shell commands in a bubblewrap sandbox, file tools that cannot
# touch the workspace's protected areas.

step "parac agents new security-reviewer --parent reviewer (a file that validates, or nothing written)"
parac agents new security-reviewer --parent reviewer --description "Reviews changes for security problems"
parac agents show security-reviewer

step "parac doctor (each check with the fix; exit 1 when something is broken)"
parac doctor || echo "(doctor found something to fix: see the lines marked ✗)"

# Direct calls get the shell and file deletion only through a policy that grants them.
cat > .parac/policies/demo-direct.yaml <<'YAML'
description: Lets the demo call shell_run and file_delete directly.
allow:
  - tools: [shell_run, file_delete]
YAML

step "parac tools call shell_run ls -la / (the sandbox: the system read-only, the workspace, nothing else of the host)"
parac tools call shell_run --args '{"command": ["ls", "-la", "/"]}'

step "parac tools call file_delete .parac (protected as a whole: refused, and nothing changes)"
parac tools call file_delete --args '{"path": ".parac", "recursive": true}' || echo "(refused, as it should be)"
test -f .parac/parac.yaml && echo ".parac/ is still there"
rm .parac/policies/demo-direct.yaml
