/**
 * Reading what `parac validate --json` prints and turning it into editor ranges.
 *
 * parac reports 1-based lines and columns counted in characters (code points), the way people read them; VS Code
 * positions are 0-based and count UTF-16 code units. The two differ on any line with characters outside the Basic
 * Multilingual Plane (emoji, some CJK), so the conversion looks at the line's text when it has it.
 */

import * as path from "node:path";

export type Severity = "error" | "warning" | "information" | "hint";

/** One problem as parac reports it (1-based, end column exclusive), with the file made absolute. */
export interface ValidateProblem {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Severity;
  code: string;
  message: string;
}

/** A 0-based position in UTF-16 code units, as `vscode.Position` takes it. */
export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** The output was not what `parac validate --json` prints; the message says what was wrong and where. */
export class ValidateOutputError extends Error {
  override name = "ValidateOutputError";
}

const SEVERITIES: ReadonlySet<string> = new Set(["error", "warning", "information", "hint"]);

/**
 * Parses the JSON list printed by `parac validate --json`; relative file names are resolved against `root`.
 *
 * Throws {@link ValidateOutputError} for anything else (a traceback, an old parac without `--json`, a list with a
 * malformed entry), naming the entry and the field, rather than showing half a result.
 */
export function parseValidateOutput(stdout: string, root: string): ValidateProblem[] {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch (error) {
    const first = stdout.trim().split("\n", 1)[0] ?? "";
    throw new ValidateOutputError(
      `parac validate --json did not print JSON (${(error as Error).message}); it began with: ${first.slice(0, 200)}`,
    );
  }
  if (!Array.isArray(data)) {
    throw new ValidateOutputError(`parac validate --json printed ${describe(data)}, expected a list of diagnostics`);
  }
  return data.map((entry, index) => problemFrom(entry, index, root));
}

function problemFrom(entry: unknown, index: number, root: string): ValidateProblem {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ValidateOutputError(`diagnostic #${index + 1} is ${describe(entry)}, expected an object`);
  }
  const record = entry as Record<string, unknown>;
  const field = <T>(name: string, check: (value: unknown) => value is T, expected: string, fallback?: T): T => {
    const value = record[name];
    if (value === undefined && fallback !== undefined) {
      return fallback;
    }
    if (!check(value)) {
      throw new ValidateOutputError(
        `diagnostic #${index + 1}: field '${name}' is ${describe(value)}, expected ${expected}`,
      );
    }
    return value;
  };
  const file = field("file", isNonEmptyString, "a file name");
  const line = field("line", isPositiveInteger, "a line number (1-based)");
  const column = field("column", isPositiveInteger, "a column number (1-based)");
  const endLine = field("end_line", isPositiveInteger, "a line number (1-based)", line);
  const endColumn = field("end_column", isPositiveInteger, "a column number (1-based)", column);
  const severity = field("severity", isSeverity, "one of error, warning, information, hint", "error");
  const code = field("code", isString, "a string", "");
  const message = field("message", isString, "a string");
  return {
    file: path.resolve(root, file),
    line,
    column,
    // A range that ends before it starts would be rejected by VS Code; clamp it to the start.
    ...(endLine < line || (endLine === line && endColumn < column)
      ? { endLine: line, endColumn: column }
      : { endLine, endColumn }),
    severity,
    code,
    message,
  };
}

/**
 * The 0-based UTF-16 range of a problem.
 *
 * `lineText(n)` gives the text of 0-based line `n` when it is known; without it columns are taken as UTF-16
 * already, which is exact for every line without astral characters.
 */
export function toRange(problem: ValidateProblem, lineText: (line: number) => string | undefined): Range {
  const start = toPosition(problem.line, problem.column, lineText);
  const end = toPosition(problem.endLine, problem.endColumn, lineText);
  return { start, end };
}

function toPosition(line: number, column: number, lineText: (line: number) => string | undefined): Position {
  const zeroLine = line - 1;
  const text = lineText(zeroLine);
  return { line: zeroLine, character: text === undefined ? column - 1 : utf16Offset(text, column - 1) };
}

/** The UTF-16 offset of the code point at index `codePoints` of `text` (past the end counts on as single units). */
export function utf16Offset(text: string, codePoints: number): number {
  let offset = 0;
  let seen = 0;
  for (const char of text) {
    if (seen === codePoints) {
      return offset;
    }
    offset += char.length;
    seen += 1;
  }
  return offset + (codePoints - seen);
}

/** Problems grouped by absolute file name, files in sorted order so the output is stable. */
export function groupByFile(problems: readonly ValidateProblem[]): Map<string, ValidateProblem[]> {
  const groups = new Map<string, ValidateProblem[]>();
  for (const problem of [...problems].sort((a, b) => a.file.localeCompare(b.file))) {
    const group = groups.get(problem.file);
    if (group === undefined) {
      groups.set(problem.file, [problem]);
    } else {
      group.push(problem);
    }
  }
  return groups;
}

/** A one-line summary for a notification: "2 errors and 1 warning in 2 files" or "no problems". */
export function summarize(problems: readonly ValidateProblem[]): string {
  if (problems.length === 0) {
    return "no problems";
  }
  const counts = new Map<Severity, number>();
  for (const problem of problems) {
    counts.set(problem.severity, (counts.get(problem.severity) ?? 0) + 1);
  }
  const parts: string[] = [];
  for (const severity of ["error", "warning", "information", "hint"] as const) {
    const count = counts.get(severity);
    if (count !== undefined) {
      const noun = severity === "information" ? "info" : severity;
      parts.push(`${count} ${noun}${count === 1 || noun === "info" ? "" : "s"}`);
    }
  }
  const files = new Set(problems.map((problem) => problem.file)).size;
  const listed = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
  return `${listed} in ${files} file${files === 1 ? "" : "s"}`;
}

/** `FILE:LINE:COL: severity CODE: message`, the CLI's own text form, for the output channel. */
export function formatProblem(problem: ValidateProblem, root: string): string {
  const shown = path.relative(root, problem.file) || problem.file;
  const code = problem.code === "" ? "" : ` ${problem.code}`;
  return `${shown}:${problem.line}:${problem.column}: ${problem.severity}${code}: ${problem.message}`;
}

/** How a JSON value reads in an error message: "missing", "a list", "number 0", "string \"fatal\"". */
function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1;
}

function isSeverity(value: unknown): value is Severity {
  return typeof value === "string" && SEVERITIES.has(value);
}
