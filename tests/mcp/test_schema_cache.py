"""The JSON Schema cache (`parac.server.schema_cache`): a second `parac mcp serve` builds no schema, a changed
source file gets its new schema, and a broken cache file is rebuilt while the right schemas are served.

Real processes on a real cache folder (``XDG_CACHE_HOME`` pointed at the test's own); that a schema was built is
read from the server's debug log, which names every one it had to build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from support.paths import PARAC

BUILT = "JSON Schema not cached, building it: "


def first_listing(project: Path, cache: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Spawn the server, initialize, list the tools, close stdin: (the tools, the schemas it had to build)."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
    ]
    proc = subprocess.Popen(
        [PARAC, "mcp", "serve", "--workspace", str(project), "--log-level", "debug"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PARAC_LOAD_PLUGINS": "", "XDG_CACHE_HOME": str(cache)},
    )
    assert proc.stdin is not None and proc.stdout is not None
    tools = None
    for message in messages:
        proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()
    while tools is None:
        reply = json.loads(proc.stdout.readline())
        if reply.get("id") == 1:
            tools = reply["result"]["tools"]
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    built = [line.split(BUILT, 1)[1] for line in err.decode().splitlines() if BUILT in line]
    return tools, built


def test_a_second_server_builds_no_schema(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    tools, built = first_listing(project, cache)
    assert len(built) >= len(tools)  # every tool's input schema, and the output schemas
    assert any(key.endswith(":mcp-input:list_agents") for key in built)
    assert any(key.startswith("plugins/") and key.endswith(":output") for key in built)
    [file] = (cache / "parac").glob("schemas-*.json")

    again, built_again = first_listing(project, cache)
    assert built_again == []
    assert again == tools  # what the cache gives is what pydantic built


def test_a_broken_cache_file_is_rebuilt_and_the_right_schemas_served(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    tools, _ = first_listing(project, cache)
    [file] = (cache / "parac").glob("schemas-*.json")
    stored = json.loads(file.read_text())
    for broken in ('{"fingerprint": "', "[]", json.dumps({**stored, "schemas": []}), ""):
        file.write_text(broken)
        again, built = first_listing(project, cache)
        assert again == tools
        assert built
        assert json.loads(file.read_text())["fingerprint"] == stored["fingerprint"]  # written whole again

    stale = {**stored, "fingerprint": "0" * 64}  # another version of the code wrote it
    stale["schemas"] = {key: {"type": "object", "stale": True} for key in stored["schemas"]}
    file.write_text(json.dumps(stale))
    again, built = first_listing(project, cache)
    assert again == tools and built


def test_an_unwritable_cache_folder_only_costs_the_building(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cache.write_text("a file where the folder should be")
    tools, built = first_listing(project, cache)
    assert tools and built
    assert first_listing(project, cache) == (tools, built)


TOOL = '''
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()
'''

READ = """
import json, sys
from pathlib import Path
from parac.server.api import tool_from_function
from parac.server.schema_cache import SchemaCache

root = Path(sys.argv[1])
sys.path.insert(0, str(root.parent))
from tools_pkg.loud import shout

built = []
def build():
    built.append(1)
    return tool_from_function(shout).input_schema

cache = SchemaCache(Path(sys.argv[2]), [root])
schema = cache.get(shout, "input", build)
cache.save()
print(json.dumps({"schema": schema, "built": len(built)}))
"""


def read_schema(root: Path, file: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", READ, str(root), str(file)], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout)


def test_a_changed_source_file_gets_its_new_schema(tmp_path: Path):
    root = tmp_path / "src" / "tools_pkg"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    module = root / "loud.py"
    module.write_text(TOOL)
    file = tmp_path / "cache" / "schemas.json"

    first = read_schema(root, file)
    assert first["built"] == 1 and list(first["schema"]["properties"]) == ["text"]
    assert read_schema(root, file) == {**first, "built": 0}

    module.write_text(TOOL.replace("text: str)", "text: str, times: int = 1)"))
    changed = read_schema(root, file)
    assert changed["built"] == 1
    assert changed["schema"]["properties"]["times"] == {"default": 1, "type": "integer"}
    assert read_schema(root, file) == {**changed, "built": 0}

    (root / "other.py").write_text("WORDS = 1\n")  # any file of the package may hold a type a schema uses
    assert read_schema(root, file)["built"] == 1


def test_code_outside_the_roots_is_never_cached(tmp_path: Path):
    from parac.server.schema_cache import SchemaCache

    def local(x: int) -> int:
        return x

    cache = SchemaCache(tmp_path / "schemas.json", [tmp_path / "elsewhere"])
    built = []
    for _ in range(2):
        cache.get(local, "input", lambda: built.append(1) or {"type": "object"})
    cache.save()
    assert len(built) == 2 and not (tmp_path / "schemas.json").exists()
