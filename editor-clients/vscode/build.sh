#!/usr/bin/env bash
# Builds the VS Code extension from the npm registry alone: install, type-check, bundle, unit-test, package.
# Prints one line when all went well; on a failure, the failing step's own output, and exits non-zero.
# Output: dist/extension.js and parac.vsix beside this script (tests/editors checks both).
set -euo pipefail
cd "$(dirname "$0")"
export CI=true
started=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# step NAME COMMAND...: runs COMMAND with its output in $log, shown only when it fails.
step() {
  local name=$1
  shift
  if ! "$@" >"$log" 2>&1 </dev/null; then
    echo "editor-clients/vscode: $name failed:" >&2
    cat "$log" >&2
    exit 1
  fi
}

npm_quiet=(--no-audit --no-fund --loglevel=error)
if [ -f package-lock.json ]; then
  # npm ci wipes node_modules; skip it when the installed tree already matches the lock file.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "npm ci" npm ci "${npm_quiet[@]}"
  fi
else
  step "npm install" npm install "${npm_quiet[@]}"
fi

rm -rf out dist parac.vsix
step "type check (tsc)" node_modules/.bin/tsc -p .
step "bundle (esbuild)" node_modules/.bin/esbuild src/extension.ts --bundle --platform=node --format=cjs \
  --target=node20 --external:vscode --outfile=dist/extension.js --minify --log-level=warning
step "unit tests (node --test)" node --test --test-reporter=spec out/test/*.test.js
tests=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log")
step "package (vsce)" node_modules/.bin/vsce package --no-dependencies --allow-missing-repository --out parac.vsix

echo "editor-clients/vscode: ${tests:-?} unit tests passed, built parac.vsix in $((SECONDS - started)) s"
