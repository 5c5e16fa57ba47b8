/**
 * Finding parac workspaces: the directories that hold a `.parac/` folder.
 *
 * parac's CLI finds its workspace by walking up from the current directory; the extension does the same from
 * each VS Code workspace folder, so opening a sub-folder of a parac project works as the CLI does there.
 */

import * as fs from "node:fs";
import * as path from "node:path";

/** Whether a path is an existing directory; injectable so the tests can use a made-up tree. */
export type IsDirectory = (candidate: string) => boolean;

export const isDirectoryOnDisk: IsDirectory = (candidate) => {
  try {
    return fs.statSync(candidate).isDirectory();
  } catch {
    return false;
  }
};

/** The nearest directory at or above `start` that holds `.parac/`, or undefined when there is none. */
export function findParacRoot(start: string, isDirectory: IsDirectory = isDirectoryOnDisk): string | undefined {
  let current = path.resolve(start);
  for (;;) {
    if (isDirectory(path.join(current, ".parac"))) {
      return current;
    }
    const parent = path.dirname(current);
    if (parent === current) {
      return undefined;
    }
    current = parent;
  }
}

/**
 * A parac workspace as the extension serves it: `root` holds `.parac/`; `folder` is the VS Code workspace folder
 * it was found from (what `${workspaceFolder}` means in settings), or undefined for a file opened on its own.
 */
export interface ParacRoot {
  root: string;
  folder: string | undefined;
}

/** The distinct parac roots of a set of workspace folders, in the folders' order; a root found twice keeps its first folder. */
export function paracRoots(folders: readonly string[], isDirectory: IsDirectory = isDirectoryOnDisk): ParacRoot[] {
  const roots: ParacRoot[] = [];
  for (const folder of folders) {
    const root = findParacRoot(folder, isDirectory);
    if (root !== undefined && !roots.some((known) => known.root === root)) {
      roots.push({ root, folder });
    }
  }
  return roots;
}

const PARAC_FILE = /(^|[\\/])\.parac[\\/](.+[\\/])?[^\\/]+\.(ya?ml|md)$/i;

/** Whether a file is one the language server handles: a YAML or Markdown file somewhere under `.parac/`. */
export function isParacFile(file: string): boolean {
  return PARAC_FILE.test(file);
}
