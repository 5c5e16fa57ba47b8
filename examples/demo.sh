#!/usr/bin/env bash
# `make demo`: parac's main job, end to end, offline. Creates ./demo-workspace afresh each time.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=demo-workspace
rm -rf "$demo"
export PARAC_LOAD_PLUGINS="${PARAC_LOAD_PLUGINS-}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "parac init $demo"
parac init "$demo"
cd "$demo"

step "parac validate"
parac validate

step "parac agents list"
parac agents list

step "parac agents show qa (resolved through tester and base, with provenance)"
parac agents show qa

for part in ../examples/demo.d/*.sh; do
  [ -e "$part" ] || continue
  # shellcheck source=/dev/null
  source "$part"
done

step "done"
