import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatProblem,
  groupByFile,
  parseValidateOutput,
  summarize,
  toRange,
  utf16Offset,
  ValidateOutputError,
  type ValidateProblem,
} from "../src/validateOutput";

const ROOT = "/w";

function entry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    file: ".parac/agents/coder.yaml",
    line: 3,
    column: 1,
    end_line: 3,
    end_column: 6,
    severity: "error",
    code: "unknown-key",
    message: "unknown key 'tols'; did you mean 'tools'?",
    ...overrides,
  };
}

describe("parseValidateOutput", () => {
  it("reads the list parac validate --json prints, resolving relative files against the root", () => {
    const problems = parseValidateOutput(JSON.stringify([entry(), entry({ file: "/abs/x.yaml", severity: "warning" })]), ROOT);
    assert.deepEqual(problems[0], {
      file: "/w/.parac/agents/coder.yaml",
      line: 3,
      column: 1,
      endLine: 3,
      endColumn: 6,
      severity: "error",
      code: "unknown-key",
      message: "unknown key 'tols'; did you mean 'tools'?",
    });
    assert.equal(problems[1]?.file, "/abs/x.yaml");
    assert.equal(problems[1]?.severity, "warning");
  });

  it("reads an empty list as a clean workspace", () => {
    assert.deepEqual(parseValidateOutput("[]\n", ROOT), []);
  });

  it("defaults a missing end, severity and code", () => {
    const [problem] = parseValidateOutput(JSON.stringify([{ file: "a.yaml", line: 2, column: 4, message: "m" }]), ROOT);
    assert.deepEqual(problem, {
      file: "/w/a.yaml", line: 2, column: 4, endLine: 2, endColumn: 4, severity: "error", code: "", message: "m",
    });
  });

  it("clamps a range that ends before it starts", () => {
    const [problem] = parseValidateOutput(JSON.stringify([entry({ line: 5, column: 3, end_line: 4, end_column: 9 })]), ROOT);
    assert.equal(problem?.endLine, 5);
    assert.equal(problem?.endColumn, 3);
  });

  it("says what is wrong with output that is not JSON", () => {
    assert.throws(
      () => parseValidateOutput("Traceback (most recent call last):\n  File ...", ROOT),
      (error: unknown) => error instanceof ValidateOutputError && /did not print JSON.*Traceback/.test(error.message),
    );
  });

  it("rejects JSON that is not a list", () => {
    assert.throws(() => parseValidateOutput('{"ok": true}', ROOT), /printed an object, expected a list/);
  });

  it("names the entry and the field that is malformed", () => {
    assert.throws(
      () => parseValidateOutput(JSON.stringify([entry(), entry({ line: 0 })]), ROOT),
      /diagnostic #2: field 'line' is number 0, expected a line number/,
    );
    assert.throws(
      () => parseValidateOutput(JSON.stringify([entry({ severity: "fatal" })]), ROOT),
      /field 'severity' is string "fatal"/,
    );
    assert.throws(() => parseValidateOutput(JSON.stringify([entry({ file: undefined })]), ROOT), /field 'file' is missing/);
    assert.throws(() => parseValidateOutput("[null]", ROOT), /diagnostic #1 is null/);
  });
});

describe("toRange", () => {
  const problem = (line: number, column: number, endLine: number, endColumn: number): ValidateProblem => ({
    file: "/w/a.yaml", line, column, endLine, endColumn, severity: "error", code: "", message: "m",
  });

  it("turns 1-based character positions into 0-based ones", () => {
    assert.deepEqual(toRange(problem(3, 1, 3, 6), () => "tols: [git]"), {
      start: { line: 2, character: 0 },
      end: { line: 2, character: 5 },
    });
  });

  it("counts astral characters as two UTF-16 units, as VS Code does", () => {
    // "🤖" is one character for parac and two code units for VS Code.
    const text = "description: 🤖 bot: x";
    const range = toRange(problem(1, 16, 1, 19), (line) => (line === 0 ? text : undefined));
    assert.deepEqual(range.start, { line: 0, character: 16 });
    assert.equal(text.slice(range.start.character, range.end.character), "bot");
  });

  it("takes columns as they are when the line is unknown", () => {
    assert.deepEqual(toRange(problem(9, 4, 9, 8), () => undefined).end, { line: 8, character: 7 });
  });
});

describe("utf16Offset", () => {
  it("counts on past the end of the line", () => {
    assert.equal(utf16Offset("a😀", 2), 3);
    assert.equal(utf16Offset("a😀", 4), 5);
    assert.equal(utf16Offset("", 0), 0);
  });
});

describe("groupByFile, summarize and formatProblem", () => {
  const problems = parseValidateOutput(
    JSON.stringify([
      entry({ file: "b.yaml" }),
      entry({ file: "a.yaml", severity: "warning" }),
      entry({ file: "b.yaml", line: 9 }),
    ]),
    ROOT,
  );

  it("groups by file in sorted order, keeping each file's order", () => {
    const groups = groupByFile(problems);
    assert.deepEqual([...groups.keys()], ["/w/a.yaml", "/w/b.yaml"]);
    assert.deepEqual(groups.get("/w/b.yaml")?.map((problem) => problem.line), [3, 9]);
  });

  it("summarizes counts by severity and files", () => {
    assert.equal(summarize(problems), "2 errors and 1 warning in 2 files");
    assert.equal(summarize(problems.slice(0, 1)), "1 error in 1 file");
    assert.equal(summarize([]), "no problems");
  });

  it("formats problems as the CLI does, relative to the root", () => {
    assert.equal(
      formatProblem(problems[0] as ValidateProblem, ROOT),
      "b.yaml:3:1: error unknown-key: unknown key 'tols'; did you mean 'tools'?",
    );
  });
});
