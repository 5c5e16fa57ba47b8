import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runValidate, ValidateRunError } from "../src/validateRun";

/**
 * Runs real processes: small shell scripts stand in for the Python interpreter, printing what a parac of a given
 * state would print, so the exit-status and output handling is exercised end to end without parac installed.
 */
describe("runValidate", () => {
  let base: string;
  let root: string;

  const script = (name: string, body: string): string => {
    const file = path.join(base, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), "parac-validate-"));
    root = path.join(base, "project");
    fs.mkdirSync(path.join(root, ".parac"), { recursive: true });
  });
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  it("passes the CLI arguments, runs in the root and reads problems from a run that exits 1", async () => {
    // Echoes what the extension asked for into the message, to check the arguments, directory and environment.
    const python = script(
      "errors",
      `printf '[{"file": ".parac/agents/a.yaml", "line": 2, "column": 3, "severity": "error", ` +
        `"code": "unknown-parent", "message": "%s|%s|%s"}]' "$*" "$(pwd)" "$PARAC_WORKSPACE"; exit 1`,
    );
    const problems = await runValidate({ pythonPath: python, serverCommand: [] }, { root, folder: root }, os.homedir());
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.file, path.join(root, ".parac/agents/a.yaml"));
    const [args, cwd, env] = (problems[0]?.message ?? "").split("|");
    assert.equal(args, "-P -m parac.server.cli validate --json");
    assert.equal(fs.realpathSync(cwd ?? ""), fs.realpathSync(root));
    assert.equal(env, root);
  });

  it("reads a clean workspace", async () => {
    const python = script("clean", "echo '[]'");
    assert.deepEqual(await runValidate({ pythonPath: python, serverCommand: [] }, { root, folder: root }, os.homedir()), []);
  });

  it("tells the user to set parac.pythonPath when the interpreter does not exist", async () => {
    await assert.rejects(
      runValidate({ pythonPath: path.join(base, "no-such-python"), serverCommand: [] }, { root, folder: root }, os.homedir()),
      (error: unknown) => error instanceof ValidateRunError && /not found.*parac\.pythonPath/.test(error.message),
    );
  });

  it("reports stderr when parac is not installed in that interpreter", async () => {
    const python = script("no-parac", "echo \"$0: No module named parac.server\" >&2; exit 1");
    await assert.rejects(
      runValidate({ pythonPath: python, serverCommand: [] }, { root, folder: root }, os.homedir()),
      (error: unknown) =>
        error instanceof ValidateRunError && /did not print JSON/.test(error.message) && /No module named parac\.server/.test(error.message),
    );
  });

  it("reports a crash with its exit status", async () => {
    const python = script("crash", "echo 'boom' >&2; exit 3");
    await assert.rejects(
      runValidate({ pythonPath: python, serverCommand: [] }, { root, folder: root }, os.homedir()),
      /failed \(exit status 3\): boom/,
    );
  });
});
