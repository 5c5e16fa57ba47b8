import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  expandVariables,
  languageServerCommand,
  mcpServerCommand,
  readSettings,
  validateCommand,
  type ParacSettings,
} from "../src/commandLine";

const HOME = "/home/ada";
const defaults: ParacSettings = { pythonPath: "python3", serverCommand: [] };

describe("expandVariables", () => {
  it("expands ${workspaceFolder}, ${userHome} and a leading ~", () => {
    assert.equal(expandVariables("${workspaceFolder}/.venv/bin/python", "/src/proj", HOME), "/src/proj/.venv/bin/python");
    assert.equal(expandVariables("${userHome}/py/bin/python", undefined, HOME), "/home/ada/py/bin/python");
    assert.equal(expandVariables("~/venvs/parac/bin/python", undefined, HOME), "/home/ada/venvs/parac/bin/python");
    assert.equal(expandVariables("~", undefined, HOME), HOME);
  });

  it("leaves a ~ that is not leading, and ${workspaceFolder} without a folder, as they are", () => {
    assert.equal(expandVariables("/opt/a~b/python", "/w", HOME), "/opt/a~b/python");
    assert.equal(expandVariables("~user/python", "/w", HOME), "~user/python");
    assert.equal(expandVariables("${workspaceFolder}/python", undefined, HOME), "${workspaceFolder}/python");
  });
});

describe("languageServerCommand", () => {
  it("runs parac lsp through the configured interpreter, with -P and without --stdio", () => {
    const line = languageServerCommand({ pythonPath: "${workspaceFolder}/.venv/bin/python", serverCommand: [] }, "/w", HOME);
    assert.deepEqual(line, { command: "/w/.venv/bin/python", args: ["-P", "-m", "parac.server.cli", "lsp"] });
    assert.ok(!line.args.includes("--stdio"));
  });

  it("falls back to python3 when the setting is blank", () => {
    assert.equal(languageServerCommand({ pythonPath: "  ", serverCommand: [] }, undefined, HOME).command, "python3");
  });

  it("uses parac.serverCommand as the whole command line when it is set", () => {
    const line = languageServerCommand({ pythonPath: "python3", serverCommand: ["~/bin/parac", "lsp", ""] }, "/w", HOME);
    assert.deepEqual(line, { command: "/home/ada/bin/parac", args: ["lsp"] });
  });
});

describe("validate and MCP command lines", () => {
  it("asks parac validate for JSON", () => {
    assert.deepEqual(validateCommand(defaults, { root: "/w", folder: "/w" }, HOME).args, [
      "-P", "-m", "parac.server.cli", "validate", "--json",
    ]);
  });

  it("confines the MCP server to the root it is given", () => {
    assert.deepEqual(mcpServerCommand(defaults, { root: "/srv/team", folder: "/srv/team/docs" }, HOME), {
      command: "python3",
      args: ["-P", "-m", "parac.server.cli", "mcp", "serve", "--workspace", "/srv/team"],
    });
  });

  it("expands ${workspaceFolder} to the VS Code folder, which may lie below the parac root", () => {
    const settings = { pythonPath: "${workspaceFolder}/.venv/bin/python", serverCommand: [] };
    const target = { root: "/srv/team", folder: "/srv/team/service" };
    assert.equal(validateCommand(settings, target, HOME).command, "/srv/team/service/.venv/bin/python");
    assert.equal(mcpServerCommand(settings, target, HOME).command, "/srv/team/service/.venv/bin/python");
  });
});

describe("readSettings", () => {
  it("reads well-typed values and replaces wrongly typed ones with defaults", () => {
    const good = new Map<string, unknown>([["pythonPath", "/usr/bin/python3.12"], ["serverCommand", ["parac", "lsp"]]]);
    assert.deepEqual(readSettings((key) => good.get(key)), { pythonPath: "/usr/bin/python3.12", serverCommand: ["parac", "lsp"] });
    const bad = new Map<string, unknown>([["pythonPath", 3], ["serverCommand", ["parac", 7, "lsp"]]]);
    assert.deepEqual(readSettings((key) => bad.get(key)), { pythonPath: "python3", serverCommand: ["parac", "lsp"] });
    assert.deepEqual(readSettings(() => undefined), defaults);
  });
});
