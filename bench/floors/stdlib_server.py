"""The physical floor: a stdlib-only JSON-RPC loop on stdio that answers initialize and tools/list and echoes tool
calls."""

import json
import sys


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message:
            continue
        if message["method"] == "initialize":
            result = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "stdlib", "version": "0"},
            }
        elif message["method"] == "tools/list":
            schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
            result = {"tools": [{"name": "echo", "description": "Return the text.", "inputSchema": schema}]}
        else:
            text = json.dumps(message["params"].get("arguments", {}))
            result = {"content": [{"type": "text", "text": text}]}
        out.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}) + "\n")
        out.flush()


main()
