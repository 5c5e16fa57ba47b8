"""One entry of ``mcp_servers`` in ``parac.yaml``, checked before anything is spawned or dialled."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ServerConfig(BaseModel):
    """One entry of ``mcp_servers``: a command to spawn (stdio) or a URL (Streamable HTTP)."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(None, description="Program that runs the server over stdio.")
    args: list[str] = Field(default_factory=list, description="Its arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables for the process.")
    cwd: str | None = Field(None, description="Working directory, relative to the workspace root.")
    url: str | None = Field(None, description="Streamable HTTP endpoint (http or https).")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers whose values come from these environment variables."
    )
    connect_timeout_s: float = Field(30.0, gt=0, description="Time allowed to start and complete the handshake.")
    call_timeout_s: float = Field(120.0, gt=0, description="Time allowed for one tool call.")
    sandbox: bool = Field(False, description="Run the stdio server in the sandbox shell commands run in (bubblewrap; "
                                             "the policies' shell network and limits apply).")

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (Streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"
