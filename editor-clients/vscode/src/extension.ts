/**
 * Entry point: wires the language client, the validate command and the MCP server provider to VS Code.
 *
 * The language server starts only when there is something for it: a workspace folder inside a parac workspace,
 * or an open `.parac/` file. The extension also activates on every YAML or Markdown file (to catch a `.parac/`
 * file opened on its own), and a plain YAML file elsewhere must not cost the user a Python process.
 */

import * as vscode from "vscode";
import { readSettings, type ParacSettings } from "./commandLine";
import { ParacLanguageClient } from "./languageClient";
import { registerMcpProvider } from "./mcpProvider";
import { validateWorkspace } from "./validateCommand";
import { findParacRoot, isParacFile, paracRoots, type ParacRoot } from "./workspaceRoot";

let languageClient: ParacLanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("parac", { log: true });
  const problems = vscode.languages.createDiagnosticCollection("parac-validate");
  const mcpChanged = new vscode.EventEmitter<void>();
  const client = new ParacLanguageClient(output);
  languageClient = client;
  context.subscriptions.push(output, problems, mcpChanged, client);

  const startIfWanted = async (): Promise<void> => {
    const [first] = paracTargets();
    if (!client.running && first !== undefined) {
      await client.start(settings(), first);
    }
  };

  context.subscriptions.push(
    vscode.commands.registerCommand("parac.validateWorkspace", () =>
      validateWorkspace(paracTargets(), settings(), problems, output),
    ),
    vscode.commands.registerCommand("parac.restartServer", () => client.restart(settings(), paracTargets()[0])),
    vscode.workspace.onDidOpenTextDocument((document) => {
      if (isParacDocument(document)) {
        void startIfWanted();
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      mcpChanged.fire();
      void startIfWanted();
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("parac.mcp") || event.affectsConfiguration("parac.pythonPath")) {
        mcpChanged.fire();
      }
      if (
        client.running &&
        (event.affectsConfiguration("parac.pythonPath") || event.affectsConfiguration("parac.serverCommand"))
      ) {
        void client.restart(settings(), paracTargets()[0]);
      }
    }),
  );

  const mcp = registerMcpProvider(
    () => ({
      roots: workspaceRoots(),
      settings: settings(),
      enabled: vscode.workspace.getConfiguration("parac").get<boolean>("mcp.enabled", true),
    }),
    mcpChanged,
    String(context.extension.packageJSON.version ?? "0.0.0"),
    output,
  );
  if (mcp !== undefined) {
    context.subscriptions.push(mcp);
  }

  await startIfWanted();
}

export async function deactivate(): Promise<void> {
  await languageClient?.stop();
  languageClient = undefined;
}

function settings(): ParacSettings {
  const section = vscode.workspace.getConfiguration("parac");
  return readSettings((key) => section.get(key));
}

function workspaceRoots(): ParacRoot[] {
  const folders = (vscode.workspace.workspaceFolders ?? [])
    .filter((folder) => folder.uri.scheme === "file")
    .map((folder) => folder.uri.fsPath);
  return paracRoots(folders);
}

/**
 * The parac workspaces to serve: those of the workspace folders or, with none, that of an open `.parac/` file
 * (a file opened on its own, outside any folder).
 */
function paracTargets(): ParacRoot[] {
  const roots = workspaceRoots();
  if (roots.length > 0) {
    return roots;
  }
  const open = vscode.workspace.textDocuments.find((document) => isParacDocument(document));
  const root = open === undefined ? undefined : findParacRoot(open.uri.fsPath);
  return root === undefined ? [] : [{ root, folder: undefined }];
}

function isParacDocument(document: vscode.TextDocument): boolean {
  return document.uri.scheme === "file" && isParacFile(document.uri.fsPath);
}
