/**
 * The parac language client: starts `parac lsp` for `.parac/` files and restarts it when its settings change.
 */

import * as os from "node:os";
import * as vscode from "vscode";
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";
import { languageServerCommand, type ParacSettings } from "./commandLine";
import type { ParacRoot } from "./workspaceRoot";

/** The `.parac/` files the server handles, whatever language VS Code assigned them. */
const DOCUMENT_SELECTOR = ["yaml", "yml", "md"].map((extension) => ({
  scheme: "file",
  pattern: `**/.parac/**/*.${extension}`,
}));

export class ParacLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;

  constructor(private readonly output: vscode.LogOutputChannel) {}

  get running(): boolean {
    return this.client !== undefined;
  }

  /**
   * Starts the server in the first parac root. The server learns the workspace folders from the client; the
   * working directory only matters to what it spawns.
   */
  async start(settings: ParacSettings, target: ParacRoot | undefined): Promise<void> {
    if (this.client !== undefined) {
      return;
    }
    const cwd = target?.root;
    const { command, args } = languageServerCommand(settings, target?.folder, os.homedir());
    // No `transport`: setting it makes the client append `--stdio`; stdio is parac lsp's default anyway.
    const serverOptions: ServerOptions = { command, args, options: cwd === undefined ? {} : { cwd } };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.output,
      synchronize: {
        // Files changed on disk (git checkout, another editor) re-validate their dependants too.
        fileEvents: vscode.workspace.createFileSystemWatcher("**/.parac/**/*.{yaml,yml,md}"),
      },
    };
    const client = new LanguageClient("parac", "parac language server", serverOptions, clientOptions);
    this.client = client;
    this.output.info(`starting ${[command, ...args].join(" ")}${cwd === undefined ? "" : ` in ${cwd}`}`);
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      await client.dispose().catch(() => undefined);
      const message = `parac: the language server did not start (${[command, ...args].join(" ")}): ${String(error)}`;
      this.output.error(message);
      const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Log");
      if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "parac.pythonPath");
      } else if (choice === "Show Log") {
        this.output.show();
      }
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      await client.dispose();
    }
  }

  async restart(settings: ParacSettings, target: ParacRoot | undefined): Promise<void> {
    await this.stop();
    await this.start(settings, target);
  }

  dispose(): void {
    void this.stop();
  }
}
