import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { findMcpApi, MCP_PROVIDER_ID, planMcpServers } from "../src/mcpApi";
import type { ParacRoot } from "../src/workspaceRoot";

describe("findMcpApi", () => {
  it("finds nothing in a VS Code without the MCP API (1.91 to 1.100)", () => {
    assert.equal(findMcpApi({ lm: { selectChatModels() {} } }), undefined);
    assert.equal(findMcpApi({ lm: { registerMcpServerDefinitionProvider() {} } }), undefined);
    assert.equal(findMcpApi(undefined), undefined);
  });

  it("binds registerMcpServerDefinitionProvider to the lm namespace", () => {
    const calls: string[] = [];
    class Definition {
      constructor(readonly label: string) {}
    }
    const lm = {
      owner: "lm",
      registerMcpServerDefinitionProvider(this: { owner: string }, id: string) {
        calls.push(`${this.owner}:${id}`);
        return { dispose() {} };
      },
    };
    const api = findMcpApi({ lm, McpStdioServerDefinition: Definition });
    assert.ok(api !== undefined);
    api.registerMcpServerDefinitionProvider("x", { provideMcpServerDefinitions: () => [] });
    assert.deepEqual(calls, ["lm:x"]);
    assert.equal(new api.McpStdioServerDefinition("parac", "python3").label, "parac");
  });
});

describe("planMcpServers", () => {
  const command = (target: ParacRoot) => ({ command: "python3", args: ["serve", target.root] });
  const at = (root: string): ParacRoot => ({ root, folder: root });

  it("labels a single server plainly", () => {
    assert.deepEqual(planMcpServers([at("/w/team")], command), [
      { label: "parac", root: "/w/team", command: "python3", args: ["serve", "/w/team"] },
    ]);
  });

  it("names each folder when there are several", () => {
    assert.deepEqual(
      planMcpServers([at("/w/a"), at("/w/b")], command).map((plan) => plan.label),
      ["parac: a", "parac: b"],
    );
    assert.deepEqual(planMcpServers([], command), []);
  });
});

describe("package.json", () => {
  // Compiled tests run from out/test/, two levels below the package.
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));

  it("declares the MCP provider id the code registers", () => {
    assert.deepEqual(
      manifest.contributes.mcpServerDefinitionProviders.map((provider: { id: string }) => provider.id),
      [MCP_PROVIDER_ID],
    );
  });

  it("activates on .parac workspaces and contributes the validate command", () => {
    assert.ok(manifest.activationEvents.includes("workspaceContains:.parac/**"));
    const commands = manifest.contributes.commands.map((command: { command: string }) => command.command);
    assert.ok(commands.includes("parac.validateWorkspace"));
    assert.equal(manifest.contributes.configuration.properties["parac.pythonPath"].default, "python3");
  });
});
