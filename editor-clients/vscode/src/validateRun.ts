/**
 * Running `parac validate --json` for one parac root and reading its answer.
 *
 * `parac validate` exits 1 when it found errors; that is a successful run. Only output that is not the JSON list
 * (a missing interpreter, parac not installed, a crash) is a failure, reported with what the process said.
 */

import { type ExecFileException, execFile } from "node:child_process";
import type { ParacSettings } from "./commandLine";
import { validateCommand } from "./commandLine";
import type { ParacRoot } from "./workspaceRoot";
import { parseValidateOutput, type ValidateProblem, ValidateOutputError } from "./validateOutput";

/** Generous: validating a large workspace from a cold interpreter takes seconds, not minutes. */
const TIMEOUT_MS = 120_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** The run could not produce diagnostics; the message is meant for the user as it is. */
export class ValidateRunError extends Error {
  override name = "ValidateRunError";
}

/** Validates one parac workspace; resolves to its problems, rejects with a {@link ValidateRunError}. */
export function runValidate(settings: ParacSettings, target: ParacRoot, home: string): Promise<ValidateProblem[]> {
  const { root } = target;
  const { command, args } = validateCommand(settings, target, home);
  const shown = [command, ...args].join(" ");
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: root,
        env: { ...process.env, PARAC_WORKSPACE: root },
        timeout: TIMEOUT_MS,
        maxBuffer: MAX_OUTPUT_BYTES,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : error.code;
        if (code === "ENOENT" || code === "EACCES") {
          reject(
            new ValidateRunError(
              `cannot run '${command}' (${code === "ENOENT" ? "not found" : "not executable"}); ` +
                "set parac.pythonPath to a Python interpreter that has parac installed",
            ),
          );
          return;
        }
        if (error !== null && code !== 0 && code !== 1) {
          reject(new ValidateRunError(`${shown} failed (${exitDescription(error)}): ${lastLines(stderr)}`));
          return;
        }
        try {
          resolve(parseValidateOutput(stdout, root));
        } catch (parseError) {
          if (parseError instanceof ValidateOutputError) {
            const detail = stderr.trim() === "" ? parseError.message : `${parseError.message}; stderr: ${lastLines(stderr)}`;
            reject(new ValidateRunError(`${shown}: ${detail}`));
          } else {
            reject(parseError);
          }
        }
      },
    );
  });
}

function exitDescription(error: ExecFileException): string {
  if (error.killed && error.signal) {
    return `stopped by ${String(error.signal)}, after ${TIMEOUT_MS / 1000} s at most`;
  }
  return typeof error.code === "number" ? `exit status ${error.code}` : error.message;
}

/** The end of stderr, where Python puts the line that says what went wrong. */
function lastLines(stderr: string, count = 3): string {
  const lines = stderr.trim().split(/\r?\n/);
  return lines.slice(-count).join(" | ") || "no output on stderr";
}
