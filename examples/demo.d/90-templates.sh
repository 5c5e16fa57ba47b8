# Templates (sourced by examples/demo.sh inside the demo workspace): `parac init --template support` in a temporary
# directory, validated, then its state machine run offline with the scripted model the template ships.

step "parac init --template support (a customer-support desk: a state machine with a human escalation)"
support_dir=$(mktemp -d)
parac init "$support_dir" --template support
(
  cd "$support_dir"
  parac validate
  step "parac workflow run support --dry-run scripted:.parac/scripts/dry-run.yaml (its shipped scripted model)"
  parac workflow run support -i ticket='I cannot sign in' --dry-run scripted:.parac/scripts/dry-run.yaml
)
rm -rf "$support_dir"
