/**
 * The slice of VS Code's MCP server definition API (stable since VS Code 1.101) that the extension uses.
 *
 * The extension supports VS Code 1.91 (what vscode-languageclient 11 needs), whose typings have no MCP API, so
 * the few types needed are declared here and the API is looked up at run time: on an older VS Code the language
 * server still works and the MCP server is simply not offered. No `vscode` import, so the tests can run it.
 */

import * as path from "node:path";
import type { CommandLine } from "./commandLine";
import type { ParacRoot } from "./workspaceRoot";

/** Must match `contributes.mcpServerDefinitionProviders[].id` in package.json (a unit test checks it). */
export const MCP_PROVIDER_ID = "parac.mcpServers";

export interface DisposableLike {
  dispose(): unknown;
}

export type EventLike = (listener: () => unknown) => DisposableLike;

/** `vscode.McpStdioServerDefinition`; `cwd` is a `vscode.Uri`, set after construction as the API intends. */
export interface McpStdioServerDefinitionLike {
  readonly label: string;
  cwd?: unknown;
}

export interface McpServerDefinitionProviderLike {
  readonly onDidChangeMcpServerDefinitions?: EventLike;
  provideMcpServerDefinitions(token: unknown): McpStdioServerDefinitionLike[];
}

/** What the extension needs from VS Code to offer an MCP server. */
export interface McpApi {
  registerMcpServerDefinitionProvider(id: string, provider: McpServerDefinitionProviderLike): DisposableLike;
  McpStdioServerDefinition: new (
    label: string,
    command: string,
    args?: string[],
    env?: Record<string, string | number | null>,
    version?: string,
  ) => McpStdioServerDefinitionLike;
}

/** The MCP API of a `vscode` module, or undefined when this VS Code predates it. */
export function findMcpApi(vscodeModule: unknown): McpApi | undefined {
  if (typeof vscodeModule !== "object" || vscodeModule === null) {
    return undefined;
  }
  const module = vscodeModule as { lm?: { registerMcpServerDefinitionProvider?: unknown }; McpStdioServerDefinition?: unknown };
  const register = module.lm?.registerMcpServerDefinitionProvider;
  const definition = module.McpStdioServerDefinition;
  if (typeof register !== "function" || typeof definition !== "function") {
    return undefined;
  }
  return {
    registerMcpServerDefinitionProvider: register.bind(module.lm) as McpApi["registerMcpServerDefinitionProvider"],
    McpStdioServerDefinition: definition as McpApi["McpStdioServerDefinition"],
  };
}

/** One MCP server to offer: what `McpStdioServerDefinition` is built from. */
export interface McpServerPlan extends CommandLine {
  label: string;
  /** The parac root the server is confined to; also its working directory. */
  root: string;
}

/**
 * One server per parac root. A single root is labelled plainly "parac"; with several, each label names its
 * folder so the user can tell them apart in the chat's tool picker.
 */
export function planMcpServers(
  roots: readonly ParacRoot[],
  command: (target: ParacRoot) => CommandLine,
): McpServerPlan[] {
  return roots.map((target) => ({
    label: roots.length === 1 ? "parac" : `parac: ${path.basename(target.root)}`,
    root: target.root,
    ...command(target),
  }));
}
