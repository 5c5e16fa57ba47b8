import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { findParacRoot, isParacFile, paracRoots } from "../src/workspaceRoot";

describe("findParacRoot on a real directory tree", () => {
  let base: string;
  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), "parac-roots-"));
    fs.mkdirSync(path.join(base, "project", ".parac", "agents"), { recursive: true });
    fs.mkdirSync(path.join(base, "project", "src", "deep"), { recursive: true });
    fs.mkdirSync(path.join(base, "other"), { recursive: true });
    // A file named .parac is not a workspace.
    fs.writeFileSync(path.join(base, "other", ".parac"), "");
  });
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  it("finds the folder itself and walks up from a sub-folder", () => {
    const project = path.join(base, "project");
    assert.equal(findParacRoot(project), project);
    assert.equal(findParacRoot(path.join(project, "src", "deep")), project);
  });

  it("finds nothing where no directory named .parac exists", () => {
    assert.equal(findParacRoot(path.join(base, "other")), undefined);
  });

  it("lists each root once, with the first folder it was found from", () => {
    const project = path.join(base, "project");
    assert.deepEqual(paracRoots([path.join(base, "other"), path.join(project, "src"), project]), [
      { root: project, folder: path.join(project, "src") },
    ]);
  });
});

describe("isParacFile", () => {
  it("accepts YAML and Markdown under .parac/ at any depth", () => {
    for (const file of [
      "/w/.parac/parac.yaml",
      "/w/.parac/agents/coder.yml",
      "/w/.parac/agents/reviewer.md",
      "/w/.parac/skills/review/SKILL.md",
      "C:\\w\\.parac\\workflows\\feature.YAML",
    ]) {
      assert.ok(isParacFile(file), file);
    }
  });

  it("rejects files outside .parac/ and other kinds of file", () => {
    for (const file of ["/w/parac.yaml", "/w/notparac/.paracx/a.yaml", "/w/.parac/state/parac.db", "/w/.parac.yaml", "/w/.parac/agents/"]) {
      assert.ok(!isParacFile(file), file);
    }
  });
});
