"""The JSON bodies the stream routes read themselves (not a tool's arguments, which the tool's own model checks):
pydantic models, imported by the first request that reads one, so that pydantic is not imported before the server's
first answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .problems import Problem


class ChatFile(BaseModel):
    name: str = Field(max_length=255)
    content: str


class ChatRequest(BaseModel):
    """`POST /chat/stream`: a chat microservice's request, answered by one run of an agent on the same loop (and
    through the same `run_agent` governance) as `POST /agents/{name}/runs`."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    show_thinking: bool = False
    files: list[ChatFile] = Field(default_factory=list)
    agent: str | None = Field(default=None, description="default: the workspace's chat agent, else base")
    cancel_on_disconnect: bool = False

    def task(self) -> str:
        attached = "".join(f"\n\nFile {f.name}:\n```\n{f.content}\n```" for f in self.files)
        return self.message + attached


class StreamFlags(BaseModel):
    """What `POST /agents/{name}/runs` reads besides the tool's arguments."""

    stream: bool = False
    cancel_on_disconnect: bool = False



def checked(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """`model` from the request body; 422 with every problem at its location."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                  for e in error.errors(include_url=False, include_input=False)]
        first = errors[0]
        raise Problem(422, f'invalid request: {".".join(map(str, first["loc"]))}: {first["msg"]}', errors=errors) from None
