/**
 * The command lines the extension runs: the language server, `parac validate --json` and the MCP server.
 *
 * Kept free of the `vscode` module so that the unit tests can check them under plain Node. Every command goes
 * through `python -P -m parac.server.cli`: `-P` stops Python from putting the working directory (the user's
 * workspace) first on `sys.path`, so a folder named `parac/` in a checked-out repository cannot shadow the
 * installed package and run its code in the editor.
 */

import type { ParacRoot } from "./workspaceRoot";

/** The settings that shape the command lines, as read from the `parac.*` configuration. */
export interface ParacSettings {
  /** `parac.pythonPath`: the interpreter that has parac installed. */
  pythonPath: string;
  /** `parac.serverCommand`: a whole command line for the language server; empty means "build it". */
  serverCommand: readonly string[];
}

/** A program and its arguments, ready for `child_process.spawn`/`execFile` (no shell involved). */
export interface CommandLine {
  command: string;
  args: string[];
}

export const DEFAULT_PYTHON = "python3";

/**
 * Expands `${workspaceFolder}`, `${userHome}` and a leading `~` the way VS Code users expect in path settings.
 *
 * `${workspaceFolder}` is left as it is when there is no folder: a path that plainly names the missing variable
 * makes a clearer error ("cannot run ${workspaceFolder}/.venv/bin/python") than one silently made relative.
 */
export function expandVariables(value: string, folder: string | undefined, home: string): string {
  let out = value;
  if (out === "~" || out.startsWith("~/")) {
    out = home + out.slice(1);
  }
  out = out.split("${userHome}").join(home);
  if (folder !== undefined) {
    out = out.split("${workspaceFolder}").join(folder);
  }
  return out;
}

/** The interpreter to run, with variables expanded; an empty or blank setting falls back to `python3`. */
export function pythonCommand(settings: ParacSettings, folder: string | undefined, home: string): string {
  const configured = settings.pythonPath.trim();
  return expandVariables(configured === "" ? DEFAULT_PYTHON : configured, folder, home);
}

/** `<python> -P -m parac.server.cli ARGS...`: the parac CLI run by the configured interpreter. */
export function cliCommand(
  settings: ParacSettings,
  folder: string | undefined,
  home: string,
  args: readonly string[],
): CommandLine {
  return {
    command: pythonCommand(settings, folder, home),
    args: ["-P", "-m", "parac.server.cli", ...args],
  };
}

/**
 * The language server's command line.
 *
 * No `--stdio`: `parac lsp` speaks stdio by default, and the language client is not given a `transport`, since
 * that is what makes vscode-languageclient append the flag.
 */
export function languageServerCommand(settings: ParacSettings, folder: string | undefined, home: string): CommandLine {
  const custom = settings.serverCommand.filter((part) => part.trim() !== "");
  if (custom.length > 0) {
    const [command, ...args] = custom.map((part) => expandVariables(part, folder, home));
    return { command: command as string, args };
  }
  return cliCommand(settings, folder, home, ["lsp"]);
}

/** `parac validate --json` for one parac workspace (run in its root, which finds it). */
export function validateCommand(settings: ParacSettings, target: ParacRoot, home: string): CommandLine {
  return cliCommand(settings, target.folder, home, ["validate", "--json"]);
}

/** `parac mcp serve --workspace ROOT` over stdio, as VS Code's chat starts it. */
export function mcpServerCommand(settings: ParacSettings, target: ParacRoot, home: string): CommandLine {
  return cliCommand(settings, target.folder, home, ["mcp", "serve", "--workspace", target.root]);
}

/** Reads the settings from a configuration section, tolerating wrong types in a hand-edited settings.json. */
export function readSettings(get: (key: string) => unknown): ParacSettings {
  const python = get("pythonPath");
  const server = get("serverCommand");
  return {
    pythonPath: typeof python === "string" ? python : DEFAULT_PYTHON,
    serverCommand: Array.isArray(server) ? server.filter((part): part is string => typeof part === "string") : [],
  };
}
