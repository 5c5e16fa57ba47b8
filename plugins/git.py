"""Git tools over gitpython: inspect (status, diff, log, show, blame, branches) and change (branch, switch, add,
commit, tag, fetch, pull, push) a repository in the workspace.

Safety rules, so an agent cannot lose anyone's work: nothing that changes the repository runs while a merge, rebase,
cherry-pick or revert is half done; ``git_pull`` refuses a dirty tree and only fast-forwards; switching branches
leaves it to git to refuse when local changes would be overwritten; pushes never force, and go only to remotes
already configured in the repository. Network commands never prompt (``GIT_TERMINAL_PROMPT=0``) and time out.
Git hooks never run (``core.hooksPath=/dev/null``): a hooks folder inside the working tree is a file an agent can
write, and a commit would run it outside the shell tool's allow-list.

No argument reaches one of git's options: the tools build each command line themselves, commits, branches, tags and
remotes cannot start with ``-`` (and ``--end-of-options`` comes before revisions where git accepts it), paths are
confined to the workspace and given after ``--`` as literal paths (``GIT_LITERAL_PATHSPECS``: no ``:(top)`` magic).
A repository is used only when its working tree is inside the workspace and its ``.git`` is read-only to tools (the
workspace's own, or one a policy lists under ``files.read_only``): git runs programs its configuration names
(``core.fsmonitor``, filters, ``diff.external``), so a repository whose configuration a tool or a sandboxed command
could have written would run them outside every sandbox. For the same reason a ``.git`` folder with a ``commondir``
file (which sends git to another folder's configuration) is refused.

gitpython is imported inside the tools: loading the plugin must not cost its import time.
"""

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ToolContext, ToolError, hookimpl

from ._tooling import TypedTool, policies, resolve_path, workspace_root

MAX_OUTPUT_CHARS = 200_000
NETWORK_TIMEOUT_S = 120
IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or am",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
    "BISECT_LOG": "a bisect",
}
QUIET_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
             "GIT_LITERAL_PATHSPECS": "1"}
BRANCH_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"  # git check-ref-format has the last word

Repo = Annotated[str, Field(description="The repository's folder, relative to the workspace root.")]
RevName = Annotated[str, Field(min_length=1, pattern=r"^[^-\s][^\s]*$", description="A commit, branch or tag.")]
BranchName = Annotated[str, Field(min_length=1, max_length=200, pattern=BRANCH_NAME, description="A branch name.")]
RemoteName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", description="A configured remote.")]
#: Ends git's options: what follows is a revision even if it looked like an option (RevName already refuses those).
END = "--end-of-options"


class FileChange(TypedDict):
    path: str
    change: str


class Status(TypedDict):
    branch: str | None
    upstream: str | None
    ahead: int
    behind: int
    head: str | None
    staged: list[FileChange]
    unstaged: list[FileChange]
    untracked: list[str]
    conflicted: list[str]
    in_progress: str | None
    clean: bool


class DiffStat(TypedDict):
    path: str
    added: int
    deleted: int


class Diff(TypedDict):
    diff: str
    files: list[DiffStat]
    truncated: bool


class Commit(TypedDict):
    sha: str
    short_sha: str
    author: str
    email: str
    date: str
    subject: str


class Log(TypedDict):
    commits: list[Commit]


class Shown(TypedDict):
    sha: str
    author: str
    email: str
    date: str
    message: str
    diff: str
    truncated: bool


class BlameLine(TypedDict):
    line: int
    sha: str
    author: str
    date: str
    text: str


class Blame(TypedDict):
    path: str
    lines: list[BlameLine]


class Branch(TypedDict):
    name: str
    sha: str
    current: bool


class Branches(TypedDict):
    current: str | None
    branches: list[Branch]
    remote_branches: list[str]


class Ref(TypedDict):
    name: str
    sha: str


class Added(TypedDict):
    staged: list[FileChange]


class Committed(TypedDict):
    sha: str
    branch: str | None
    summary: str
    files: list[DiffStat]


class Remote(TypedDict):
    remote: str
    output: str


class Pulled(TypedDict):
    remote: str
    branch: str
    before: str
    after: str
    updated: bool


class Pushed(TypedDict):
    remote: str
    branch: str
    sha: str
    output: str


# -- helpers ---------------------------------------------------------------------------------------------------------


def _open(ctx: ToolContext, repo: str) -> Any:
    import git

    folder = resolve_path(ctx, repo)
    try:
        handle = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ToolError(f"{repo}: not a git repository (run git init, or point repo at one)") from None
    if handle.bare:
        raise ToolError(f"{repo}: a bare repository has no working tree to work on")
    _check_trusted(ctx, repo, Path(handle.working_tree_dir))
    handle.git.update_environment(**QUIET_ENV)
    handle.git.set_persistent_git_options(c="core.hooksPath=/dev/null")
    return handle


def _check_trusted(ctx: ToolContext, repo: str, tree: Path) -> None:
    """Refuse a repository whose configuration a tool or a sandboxed command could have written (see above)."""
    root = workspace_root(ctx)
    tree = tree.resolve()
    if not tree.is_relative_to(root):
        raise ToolError(f"{repo}: the repository around it is outside the workspace")
    entry = (tree / ".git").relative_to(root).as_posix()
    resolve_path(ctx, entry)  # a .git that is a link out of the workspace is refused here
    # Read-only to tools is not enough: a sandboxed command writes whatever the sandbox does not bind read-only,
    # which is the workspace's own .git configuration and the policies' files.read_only, exactly as spelt.
    sandboxed = policies(ctx).command_policy().sandbox.read_only
    if entry != ".git" and not any(entry == area.strip("/") or entry.startswith(area.strip("/") + "/")
                                   for area in sandboxed):
        raise ToolError(f"{repo}: its {entry} can be written by sandboxed commands, so its configuration could make "
                        f"git run programs; git tools work only on the workspace's own repository and on those a "
                        f"policy lists under files.read_only")
    if (tree / ".git").is_dir() and os.path.lexists(tree / ".git" / "commondir"):
        raise ToolError(f"{repo}: {entry}/commondir sends git to another folder's configuration; git tools refuse "
                        f"it (remove the file if you did not put it there)")


def _git(handle: Any, command: str, *args: str, **options: Any) -> Any:
    """Run a git command and return its stdout (``(status, stdout, stderr)`` with ``with_extended_output``); its
    failure becomes a :class:`ToolError` carrying git's own explanation."""
    import git

    try:
        return getattr(handle.git, command.replace("-", "_"))(*args, **options)
    except git.GitCommandError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().removeprefix("stderr:").strip().strip("'").strip()
        raise ToolError(f"git {command} failed: {detail or f'exit status {exc.status}'}") from None


def _in_progress(handle: Any) -> str | None:
    git_dir = Path(handle.git_dir)
    return next((what for name, what in IN_PROGRESS.items() if (git_dir / name).exists()), None)


def _refuse_in_progress(handle: Any) -> None:
    what = _in_progress(handle)
    if what:
        raise ToolError(
            f"the repository is in the middle of {what}; finish or abort it with git before changing anything"
        )


def _dirty(handle: Any) -> bool:
    return handle.is_dirty(index=True, working_tree=True, untracked_files=False)


def _current_branch(handle: Any) -> str | None:
    return None if handle.head.is_detached else handle.active_branch.name


def _head(handle: Any) -> str | None:
    try:
        return handle.head.commit.hexsha
    except ValueError:  # a repository without commits
        return None


def _cap(text: str) -> tuple[str, bool]:
    return (text[:MAX_OUTPUT_CHARS], True) if len(text) > MAX_OUTPUT_CHARS else (text, False)


def _numstat(output: str) -> list[DiffStat]:
    stats = []
    for line in output.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            added, deleted, path = parts
            stats.append(DiffStat(path=path, added=int(added) if added.isdigit() else 0,
                                  deleted=int(deleted) if deleted.isdigit() else 0))
    return stats


def _repo_paths(ctx: ToolContext, handle: Any, paths: list[str]) -> list[str]:
    """Workspace paths, confined, rewritten relative to the repository's working tree for git."""
    tree = Path(handle.working_tree_dir).resolve()
    out = []
    for path in paths:
        resolved = resolve_path(ctx, path)
        if not resolved.is_relative_to(tree):
            raise ToolError(f"{path}: outside the repository at {tree.name}")
        out.append(resolved.relative_to(tree).as_posix() or ".")
    return out


# -- reading ---------------------------------------------------------------------------------------------------------

_CHANGES = {"M": "modified", "A": "added", "D": "deleted", "R": "renamed", "C": "copied", "T": "type changed"}


def git_status(ctx: ToolContext, repo: Repo = ".") -> Status:
    """The current branch, its distance from upstream, and staged, unstaged, untracked and conflicted files."""
    handle = _open(ctx, repo)
    output = _git(handle, "status", "--porcelain=v1", "-b", "-z", "--untracked-files=all")
    status = Status(branch=None, upstream=None, ahead=0, behind=0, head=_head(handle), staged=[], unstaged=[],
                    untracked=[], conflicted=[], in_progress=_in_progress(handle), clean=True)
    records = iter(output.split("\0"))
    for record in records:
        if not record:
            continue
        code, path = record[:2], record[3:]
        if code == "##":
            _branch_line(path, status)
            continue
        if code[0] in "RC":
            next(records, None)  # the rename's source path follows
        if code == "??":
            status["untracked"].append(path)
        elif "U" in code or code in ("AA", "DD"):
            status["conflicted"].append(path)
        else:
            if code[0] in _CHANGES:
                status["staged"].append(FileChange(path=path, change=_CHANGES[code[0]]))
            if code[1] in _CHANGES:
                status["unstaged"].append(FileChange(path=path, change=_CHANGES[code[1]]))
    status["clean"] = not (status["staged"] or status["unstaged"] or status["untracked"] or status["conflicted"])
    return status


def _branch_line(line: str, status: Status) -> None:
    """``main...origin/main [ahead 1, behind 2]``, ``No commits yet on main`` or ``HEAD (no branch)``."""
    match = re.match(r"(?:No commits yet on |Initial commit on )?(\S+?)(?:\.\.\.(\S+))?(?: \[(.*)\])?$", line)
    if not match or line.startswith("HEAD (no branch)"):
        return
    status["branch"], status["upstream"] = match.group(1), match.group(2)
    for part in (match.group(3) or "").split(", "):
        if part.startswith("ahead "):
            status["ahead"] = int(part[6:])
        elif part.startswith("behind "):
            status["behind"] = int(part[7:])


def git_diff(
    ctx: ToolContext,
    repo: Repo = ".",
    staged: Annotated[bool, Field(description="Diff the index against HEAD instead of the working tree.")] = False,
    base: Annotated[RevName | None, Field(description="Compare from this commit (with target: between the two).")] = None,
    target: Annotated[RevName | None, Field(description="Compare to this commit; needs base.")] = None,
    paths: Annotated[list[str], Field(description="Limit the diff to these paths.")] = [],
    context_lines: Annotated[int, Field(ge=0, le=100)] = 3,
) -> Diff:
    """A unified diff: working tree vs index (default), index vs HEAD (staged), or between two commits."""
    if target and not base:
        raise ToolError("target needs base: give the commit to compare from")
    if staged and target:
        raise ToolError("staged compares the index with HEAD; it cannot be combined with target")
    handle = _open(ctx, repo)
    args = [f"-U{context_lines}"]
    if staged:
        args.append("--cached")
    args += [END, *(rev for rev in (base, target) if rev)]
    args += ["--", *_repo_paths(ctx, handle, paths)]
    diff, truncated = _cap(_git(handle, "diff", *args))
    return Diff(diff=diff, files=_numstat(_git(handle, "diff", "--numstat", *args[1:])), truncated=truncated)


_LOG_FORMAT = "%H%x1f%h%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"


def _commits(output: str) -> list[Commit]:
    commits = []
    for record in output.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 6:
            sha, short, author, email, date, subject = fields
            commits.append(Commit(sha=sha, short_sha=short, author=author, email=email, date=date, subject=subject))
    return commits


def git_log(
    ctx: ToolContext,
    repo: Repo = ".",
    ref: RevName = "HEAD",
    max_count: Annotated[int, Field(ge=1, le=1000)] = 20,
    path: Annotated[str | None, Field(description="Only commits that touched this path.")] = None,
) -> Log:
    """Recent commits reachable from a ref, newest first."""
    handle = _open(ctx, repo)
    if _head(handle) is None:
        return Log(commits=[])
    args = [f"--max-count={max_count}", f"--format={_LOG_FORMAT}", END, ref, "--"]
    if path:
        args += _repo_paths(ctx, handle, [path])
    return Log(commits=_commits(_git(handle, "log", *args)))


def git_show(ctx: ToolContext, rev: RevName = "HEAD", repo: Repo = ".") -> Shown:
    """One commit: author, date, full message and its diff."""
    handle = _open(ctx, repo)
    meta = _git(handle, "show", "--no-patch", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B", END, rev, "--")
    sha, author, email, date, message = meta.split("\x1f", 4)
    diff, truncated = _cap(_git(handle, "show", "--format=", "--patch", END, rev, "--"))
    return Shown(sha=sha, author=author, email=email, date=date, message=message.strip(), diff=diff.lstrip("\n"),
                 truncated=truncated)


def git_blame(
    path: Annotated[str, Field(min_length=1, description="A tracked file, relative to the workspace root.")],
    ctx: ToolContext,
    repo: Repo = ".",
    rev: RevName = "HEAD",
    start_line: Annotated[int, Field(ge=1)] = 1,
    end_line: Annotated[int | None, Field(ge=1)] = None,
) -> Blame:
    """Who last changed each line of a file, and in which commit."""
    if end_line is not None and end_line < start_line:
        raise ToolError(f"end_line ({end_line}) is before start_line ({start_line})")
    handle = _open(ctx, repo)
    (file,) = _repo_paths(ctx, handle, [path])
    span = f"{start_line},{end_line}" if end_line else f"{start_line},"
    output = _git(handle, "blame", "--line-porcelain", "-L", span, rev, "--", file)
    lines: list[BlameLine] = []
    current: dict[str, str] = {}
    for raw in output.splitlines():
        if raw.startswith("\t"):
            lines.append(BlameLine(line=int(current["line"]), sha=current["sha"], author=current.get("author", ""),
                                   date=current.get("author-time", ""), text=raw[1:]))
        elif re.match(r"^[0-9a-f]{40} ", raw):
            sha, _, final, *_ = raw.split(" ") + [""]
            current = {"sha": sha, "line": final}
        else:
            key, _, value = raw.partition(" ")
            current[key] = value
    return Blame(path=path, lines=lines)


def git_branch_list(ctx: ToolContext, repo: Repo = ".") -> Branches:
    """Local branches (with the current one marked) and remote-tracking branches."""
    handle = _open(ctx, repo)
    current = _current_branch(handle)
    branches = [Branch(name=b.name, sha=b.commit.hexsha, current=b.name == current) for b in handle.branches]
    remote = [ref.name for r in handle.remotes for ref in r.refs]
    return Branches(current=current, branches=branches, remote_branches=remote)


# -- changing --------------------------------------------------------------------------------------------------------


def git_branch_create(
    name: BranchName,
    ctx: ToolContext,
    repo: Repo = ".",
    start_point: RevName = "HEAD",
    switch: Annotated[bool, Field(description="Switch to the new branch (uncommitted changes come along).")] = False,
) -> Ref:
    """Create a branch at a commit, optionally switching to it."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    if name in [b.name for b in handle.branches]:
        raise ToolError(f'branch "{name}" already exists')
    _git(handle, "check-ref-format", "--branch", name)
    if switch:
        _git(handle, "switch", "-c", name, END, start_point)
    else:
        _git(handle, "branch", END, name, start_point)
    return Ref(name=name, sha=handle.commit(name).hexsha)


def git_switch(branch: BranchName, ctx: ToolContext, repo: Repo = ".") -> Ref:
    """Switch to an existing branch. Refused by git when uncommitted changes would be overwritten."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    if branch not in [b.name for b in handle.branches]:
        raise ToolError(f'no branch "{branch}" (create it with git_branch_create)')
    _git(handle, "switch", END, branch)
    return Ref(name=branch, sha=handle.head.commit.hexsha)


def git_add(
    paths: Annotated[list[str], Field(min_length=1, description="Files or folders to stage (`.` for all).")],
    ctx: ToolContext,
    repo: Repo = ".",
) -> Added:
    """Stage changes (new, modified and deleted files) for the next commit."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    _git(handle, "add", "--all", "--", *_repo_paths(ctx, handle, paths))
    return Added(staged=git_status(ctx, repo)["staged"])


def git_commit(
    message: Annotated[str, Field(min_length=1, description="The commit message.")],
    ctx: ToolContext,
    repo: Repo = ".",
    all_tracked: Annotated[bool, Field(description="Stage modified tracked files first (like commit -a).")] = False,
) -> Committed:
    """Commit what is staged. Refused when nothing is staged."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    if all_tracked:
        _git(handle, "add", "--update")
    if _head(handle) is not None and not handle.index.diff("HEAD"):
        raise ToolError("nothing staged to commit (stage files with git_add first)")
    _git(handle, "commit", "-m", message)
    sha = handle.head.commit.hexsha
    files = _numstat(_git(handle, "show", "--numstat", "--format=", sha))
    return Committed(sha=sha, branch=_current_branch(handle), summary=handle.head.commit.summary, files=files)


def git_tag(
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=BRANCH_NAME, description="The tag's name.")],
    ctx: ToolContext,
    repo: Repo = ".",
    rev: RevName = "HEAD",
    message: Annotated[str | None, Field(description="Makes an annotated tag with this message.")] = None,
) -> Ref:
    """Tag a commit (annotated when a message is given). An existing tag is never moved."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    if name in [t.name for t in handle.tags]:
        raise ToolError(f'tag "{name}" already exists')
    args = ["-a", "-m", message, END, name, rev] if message else [END, name, rev]
    _git(handle, "tag", *args)
    return Ref(name=name, sha=handle.commit(name).hexsha)


def _remote(handle: Any, remote: str) -> None:
    names = [r.name for r in handle.remotes]
    if remote not in names:
        configured = ", ".join(names) or "none"
        raise ToolError(f'no remote "{remote}" is configured in the repository (configured: {configured})')


def git_fetch(ctx: ToolContext, repo: Repo = ".", remote: RemoteName = "origin") -> Remote:
    """Fetch branches and tags from a configured remote (nothing local changes but remote-tracking refs)."""
    handle = _open(ctx, repo)
    _remote(handle, remote)
    _, out, err = _git(handle, "fetch", "--prune", "--tags", END, remote, kill_after_timeout=NETWORK_TIMEOUT_S,
                       with_extended_output=True)
    return Remote(remote=remote, output=(err or out).strip())


def git_pull(
    ctx: ToolContext,
    repo: Repo = ".",
    remote: RemoteName = "origin",
    branch: Annotated[BranchName | None, Field(description="Remote branch; the current branch's name by default.")] = None,
) -> Pulled:
    """Fast-forward the current branch to a configured remote's branch. Refused on uncommitted changes, and when
    the branches have diverged (no merge commit is ever made for you)."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    _remote(handle, remote)
    current = _current_branch(handle)
    if current is None:
        raise ToolError("HEAD is detached; switch to a branch before pulling")
    if _dirty(handle):
        raise ToolError("the working tree has uncommitted changes; commit them first so pulling cannot lose them")
    before = _head(handle) or ""
    _git(handle, "pull", "--ff-only", "--no-rebase", END, remote, branch or current, kill_after_timeout=NETWORK_TIMEOUT_S)
    after = _head(handle) or ""
    return Pulled(remote=remote, branch=branch or current, before=before, after=after, updated=before != after)


def git_push(
    ctx: ToolContext,
    repo: Repo = ".",
    remote: RemoteName = "origin",
    branch: Annotated[BranchName | None, Field(description="Local branch to push; the current one by default.")] = None,
    set_upstream: Annotated[bool, Field(description="Make the remote branch the upstream of the local one.")] = False,
    tags: Annotated[bool, Field(description="Also push tags that point into the pushed history.")] = False,
) -> Pushed:
    """Push a branch to a configured remote. Never forces: a rejected push is reported, not overridden."""
    handle = _open(ctx, repo)
    _refuse_in_progress(handle)
    _remote(handle, remote)
    name = branch or _current_branch(handle)
    if name is None:
        raise ToolError("HEAD is detached; name the branch to push")
    if name not in [b.name for b in handle.branches]:
        raise ToolError(f'no local branch "{name}"')
    args = [*(["--set-upstream"] if set_upstream else []), *(["--follow-tags"] if tags else []), END, remote,
            f"refs/heads/{name}:refs/heads/{name}"]
    _, out, err = _git(handle, "push", "--porcelain", *args, kill_after_timeout=NETWORK_TIMEOUT_S,
                       with_extended_output=True)
    return Pushed(remote=remote, branch=name, sha=handle.commit(name).hexsha, output=(out or err).strip())


@hookimpl
def parac_register_tools(register) -> None:
    for fn, title in ((git_status, "Git status"), (git_diff, "Git diff"), (git_log, "Git log"),
                      (git_show, "Show a git commit"), (git_blame, "Git blame"), (git_branch_list, "List git branches")):
        register(TypedTool(fn, title, read_only=True))
    # Only what git itself may lose counts as destructive: switching and pulling rewrite the working tree
    # (git refuses when local changes would be lost, but pulled files replace what was there).
    register(TypedTool(git_branch_create, "Create a git branch", destructive=False, idempotent=False))
    register(TypedTool(git_switch, "Switch git branch", destructive=True, idempotent=True))
    register(TypedTool(git_add, "Stage files (git add)", destructive=False, idempotent=True))
    register(TypedTool(git_commit, "Git commit", destructive=False, idempotent=False))
    register(TypedTool(git_tag, "Create a git tag", destructive=False, idempotent=False))
    # The remotes are the open world; a push never forces, so it only adds to the remote.
    register(TypedTool(git_fetch, "Git fetch", destructive=False, idempotent=True, open_world=True))
    register(TypedTool(git_pull, "Git pull", destructive=True, idempotent=False, open_world=True))
    register(TypedTool(git_push, "Git push", destructive=False, idempotent=True, open_world=True))
