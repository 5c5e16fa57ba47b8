/**
 * The `parac.validateWorkspace` command: `parac validate --json` for every parac root, shown in Problems.
 *
 * The language server already reports the files people open; this command covers the whole workspace at once,
 * the same check CI runs, so a user can see every problem before committing.
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import type { ParacSettings } from "./commandLine";
import { formatProblem, groupByFile, summarize, toRange, type Severity, type ValidateProblem } from "./validateOutput";
import { runValidate } from "./validateRun";
import type { ParacRoot } from "./workspaceRoot";

const SEVERITY: Record<Severity, vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
  hint: vscode.DiagnosticSeverity.Hint,
};

export async function validateWorkspace(
  roots: readonly ParacRoot[],
  settings: ParacSettings,
  collection: vscode.DiagnosticCollection,
  output: vscode.LogOutputChannel,
): Promise<void> {
  if (roots.length === 0) {
    void vscode.window.showWarningMessage("parac: no .parac/ directory in this workspace or above it.");
    return;
  }
  collection.clear();
  const problems: ValidateProblem[] = [];
  const failures: string[] = [];
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: "parac: validating" },
    async () => {
      for (const target of roots) {
        const { root } = target;
        try {
          const found = await runValidate(settings, target, os.homedir());
          output.info(`parac validate in ${root}: ${summarize(found)}`);
          for (const problem of found) {
            output.info(formatProblem(problem, root));
          }
          problems.push(...found);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          output.error(message);
          failures.push(message);
        }
      }
    },
  );
  for (const [file, group] of groupByFile(problems)) {
    const lines = linesOf(file);
    collection.set(
      vscode.Uri.file(file),
      group.map((problem) => toDiagnostic(problem, lines)),
    );
  }
  if (failures.length > 0) {
    const choice = await vscode.window.showErrorMessage(`parac: validation failed: ${failures[0]}`, "Show Log");
    if (choice === "Show Log") {
      output.show();
    }
  } else if (problems.length === 0) {
    void vscode.window.showInformationMessage("parac: the workspace is valid.");
  } else {
    void vscode.window.showWarningMessage(`parac: ${summarize(problems)}; see Problems.`);
  }
}

function toDiagnostic(problem: ValidateProblem, lines: (line: number) => string | undefined): vscode.Diagnostic {
  const range = toRange(problem, lines);
  const diagnostic = new vscode.Diagnostic(
    new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character),
    problem.message,
    SEVERITY[problem.severity],
  );
  diagnostic.source = "parac validate";
  if (problem.code !== "") {
    diagnostic.code = problem.code;
  }
  return diagnostic;
}

/** The file's lines as parac read them from disk, to turn its character columns into UTF-16 ones. */
function linesOf(file: string): (line: number) => string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return () => undefined;
  }
  const lines = text.split(/\r\n|\r|\n/);
  return (line) => lines[line];
}
