"""The fixtures `@modelcontextprotocol/conformance` calls (tools, resources, prompts named `test_*` / `test://`), as a
third-party plugin: installed through an entry point (this folder on PYTHONPATH, `PARAC_LOAD_PLUGINS=conformance`),
registered through `parac.server.api` only. Test-only: parac's own tool list never carries them.

Content the plugin API has no type for (images, audio, embedded resources) is answered as the MCP SDK's own
`CallToolResult`, which parac passes through as it is; a plugin that speaks MCP may depend on the SDK like this.
"""

from __future__ import annotations

import base64

from mcp import types

from parac.server.api import ToolError, hookimpl, tool_from_function

# A 1x1 red PNG and a 1-sample silent WAV: the smallest payloads the scenarios accept.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
WAV = base64.b64decode("UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQIAAAAAAA==")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _image() -> types.ImageContent:
    return types.ImageContent(type="image", data=_b64(PNG), mime_type="image/png")


def _embedded(uri: str, text: str, mime_type: str = "text/plain") -> types.EmbeddedResource:
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, text=text, mime_type=mime_type)
    )


def test_simple_text() -> str:
    """Answer a fixed text."""
    return "This is a simple text response for testing."


def test_image_content() -> types.CallToolResult:
    """Answer a PNG image."""
    return types.CallToolResult(content=[_image()])


def test_audio_content() -> types.CallToolResult:
    """Answer a WAV clip."""
    return types.CallToolResult(content=[types.AudioContent(type="audio", data=_b64(WAV), mime_type="audio/wav")])


def test_embedded_resource() -> types.CallToolResult:
    """Answer an embedded text resource."""
    return types.CallToolResult(
        content=[_embedded("test://embedded-resource", "This is an embedded resource content.")]
    )


def test_multiple_content_types() -> types.CallToolResult:
    """Answer text, an image and an embedded resource together."""
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="Multiple content types test:"),
            _image(),
            _embedded("test://mixed-content-resource", '{"test":"data","value":123}', "application/json"),
        ]
    )


def test_error_handling() -> str:
    """Always fail, as a tool that explains itself."""
    raise ToolError("This tool intentionally returns an error for testing")


@hookimpl
def parac_register_tools(register):
    for fn in (test_simple_text, test_image_content, test_audio_content, test_embedded_resource,
               test_multiple_content_types, test_error_handling):
        register(tool_from_function(fn, read_only=True))


@hookimpl
def parac_register_resources(register):
    register("test://static-text", lambda: "This is the content of the static text resource.",
             name="static-text", description="A fixed text resource", mime_type="text/plain")
    register("test://static-binary", lambda: PNG, name="static-binary", description="A fixed PNG",
             mime_type="image/png")


@hookimpl
def parac_register_prompts(register):
    register("test_simple_prompt", "A prompt without arguments", lambda: "This is a simple prompt for testing.")
    register(
        "test_prompt_with_arguments",
        "A prompt that quotes its arguments",
        lambda arg1, arg2: f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'",
        arguments=[{"name": "arg1", "description": "First test argument", "required": True},
                   {"name": "arg2", "description": "Second test argument", "required": True}],
    )
    register(
        "test_prompt_with_embedded_resource",
        "A prompt that embeds the resource it is given",
        lambda resourceUri: [
            {"role": "user", "content": _embedded(resourceUri, "Embedded resource content for testing.")},
            {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}},
        ],
        arguments=[{"name": "resourceUri", "description": "URI of the resource to embed", "required": True}],
    )
    register(
        "test_prompt_with_image",
        "A prompt that shows an image",
        lambda: [
            {"role": "user", "content": _image()},
            {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}},
        ],
    )
