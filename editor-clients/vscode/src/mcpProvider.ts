/**
 * Offers `parac mcp serve` to VS Code's chat, one server per parac root, through the MCP server definition
 * provider API. VS Code starts the server itself when chat needs its tools; the extension only describes it.
 */

import * as os from "node:os";
import * as vscode from "vscode";
import { mcpServerCommand, type ParacSettings } from "./commandLine";
import { findMcpApi, MCP_PROVIDER_ID, planMcpServers, type McpApi } from "./mcpApi";
import type { ParacRoot } from "./workspaceRoot";

/**
 * Registers the provider when this VS Code has the API (1.101+); returns undefined otherwise.
 * `changed` is fired by the extension when folders or settings change, so VS Code asks again.
 */
export function registerMcpProvider(
  state: () => { roots: readonly ParacRoot[]; settings: ParacSettings; enabled: boolean },
  changed: vscode.EventEmitter<void>,
  version: string,
  output: vscode.LogOutputChannel,
): vscode.Disposable | undefined {
  const api: McpApi | undefined = findMcpApi(vscode);
  if (api === undefined) {
    output.info(`VS Code ${vscode.version} has no MCP server definition API (1.101+); parac's MCP server is not offered`);
    return undefined;
  }
  return api.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
    onDidChangeMcpServerDefinitions: (listener) => changed.event(listener),
    provideMcpServerDefinitions: () => {
      const { roots, settings, enabled } = state();
      if (!enabled) {
        return [];
      }
      return planMcpServers(roots, (target) => mcpServerCommand(settings, target, os.homedir())).map((plan) => {
        const definition = new api.McpStdioServerDefinition(plan.label, plan.command, plan.args, {}, version);
        definition.cwd = vscode.Uri.file(plan.root);
        return definition;
      });
    },
  }) as vscode.Disposable;
}
