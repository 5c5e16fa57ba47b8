"""The spec models: one pydantic model per kind of file under ``.parac/``.

These models are the single description of each format. Validation, ``parac schema``, the language server's
completion and hover (from the field descriptions), and the MCP resources all read them from here.
Unknown keys are errors (``extra="forbid"``) so that a misspelt key is caught, not silently ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
Usd = Annotated[float, Field(ge=0)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


def _comma_list(value: Any) -> Any:
    """Claude Code writes ``tools: Read, Grep, Glob`` (or nothing); parac writes a YAML list. Accept all three."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Budget(Spec):
    """Spending limits in US dollars; a call that would pass one is refused before it is made."""

    per_run_usd: Usd | None = None
    """Limit for one run of the agent or workflow."""
    per_workflow_usd: Usd | None = None
    """Limit for all runs of one workflow."""
    per_agent_usd: Usd | None = None
    """Limit for all runs of one agent."""
    daily_usd: Usd | None = None
    """Limit per calendar day (UTC)."""
    monthly_usd: Usd | None = None
    """Limit per calendar month (UTC)."""
    total_usd: Usd | None = None
    """Limit over the life of the workspace."""


class AgentSpec(Spec):
    """An agent: a model, a system prompt, tools and skills. Inherits from ``parent``."""

    name: Name | None = None
    """The agent's name; must match the file's stem when given."""
    parent: Name | None = None
    """Another agent (from this workspace or a plugin) whose fields this one inherits."""
    description: str | None = None
    """One line saying what the agent is for."""
    model: str | None = None
    """A litellm model id (``openai/gpt-4o``) or an offline one: ``echo``, ``fixed:TEXT``, ``random``, ``scripted:PATH``."""
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    """Sampling temperature, 0 to 2."""
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    """Upper bound on the tokens of each completion; bounds cost estimates too."""
    system_prompt: str | None = None
    """The system prompt; for Markdown agents the body of the file."""
    tools: list[Name] = Field(default_factory=list)
    """Tools the agent may call; added to the parent's."""
    exclude_tools: list[Name] = Field(default_factory=list)
    """Inherited tools to take away."""
    skills: list[Name] = Field(default_factory=list)
    """Skills whose instructions join the system prompt; added to the parent's."""
    max_iterations: Annotated[int, Field(ge=1, le=1000)] | None = None
    """How many model turns the tool-calling loop may take."""
    budget: Budget | None = None
    """Spending limits for this agent."""
    metadata: dict[str, Any] | None = None
    """Free-form data for plugins and people; merged deeply with the parent's."""
    color: str | None = None
    """Display colour (accepted for Claude Code subagent files)."""

    _tools_from_string = field_validator("tools", "exclude_tools", "skills", mode="before")(_comma_list)


class SkillSpec(Spec):
    """The front matter of an Agent Skills ``SKILL.md``."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
    """Lowercase letters, digits and hyphens; must match the skill's folder."""
    description: Annotated[str, Field(min_length=1, max_length=1024)]
    """What the skill does and when to use it."""
    license: str | None = None
    """The skill's licence."""
    compatibility: str | None = None
    """Environment requirements, if any."""
    allowed_tools: list[str] | None = Field(default=None, alias="allowed-tools")
    """Tools the skill may use."""
    metadata: dict[str, Any] | None = None
    """Free-form data."""

    _tools_from_string = field_validator("allowed_tools", mode="before")(lambda v: _comma_list(v) if v else v)


class InputSpec(Spec):
    """A workflow input."""

    type: Literal["string", "number", "integer", "boolean", "object", "array"] = "string"
    """The JSON type the value must have."""
    required: bool = False
    """Whether a run must provide it."""
    default: Any = None
    """Used when a run does not provide it."""
    description: str | None = None
    """What the input means."""


class RetrySpec(Spec):
    """How a failed step is retried."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] = 1
    """Attempts in all, the first included."""
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    """Delay between attempts: doubled each time (with jitter), constant, or none."""
    initial_delay_s: Annotated[float, Field(ge=0)] = 1.0
    """Delay before the second attempt."""
    max_delay_s: Annotated[float, Field(ge=0)] = 60.0
    """Upper bound on any delay."""


class StepSpec(Spec):
    """One step of a workflow."""

    id: Name
    """Unique within the workflow; other steps name it in ``depends_on`` and templates."""
    type: Literal["agent", "tool", "approval", "workflow"] = "agent"
    """What the step does: run an agent, call a tool, wait for a person, or run another workflow."""
    description: str | None = None
    """What the step is for."""
    agent: Name | None = None
    """The agent that runs the step (type agent); defaults to the step id."""
    task: str | None = None
    """The agent's task, a Jinja2 template over ``inputs`` and ``steps``."""
    tool: Name | None = None
    """The tool to call (type tool)."""
    arguments: dict[str, Any] | None = None
    """The tool's arguments; string values are templates."""
    workflow: Name | None = None
    """The sub-workflow to run (type workflow)."""
    inputs: dict[str, Any] | None = None
    """Inputs for the sub-workflow; string values are templates."""
    model: str | None = None
    """Overrides the agent's model for this step."""
    depends_on: list[Name] = Field(default_factory=list)
    """Steps that must finish before this one starts."""
    when: str | None = None
    """A Jinja2 condition; the step is skipped when it is false."""
    retry: RetrySpec | None = None
    """Retries on failure."""
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    """The step fails when it runs longer than this."""
    continue_on_error: bool = False
    """A failure marks the step failed but lets its dependents run."""
    timeout_action: Literal["reject", "approve"] | None = None
    """For approvals with a timeout: what happens when nobody answers."""
    message: str | None = None
    """What the approver is asked (type approval), a Jinja2 template."""

    _deps_from_string = field_validator("depends_on", mode="before")(_comma_list)

    @model_validator(mode="before")
    @classmethod
    def _infer_type(cls, data: Any) -> Any:
        """A step that names a tool or a workflow and no type is of that type: ``type:`` is then redundant."""
        if isinstance(data, dict) and "type" not in data:
            for kind in ("tool", "workflow"):
                if data.get(kind):
                    return {**data, "type": kind}
        return data

    @model_validator(mode="after")
    def _kind_fields(self) -> StepSpec:
        if self.type == "tool" and not self.tool:
            raise ValueError('a step of type "tool" needs "tool"')
        if self.type == "workflow" and not self.workflow:
            raise ValueError('a step of type "workflow" needs "workflow"')
        return self

    @property
    def agent_name(self) -> str | None:
        return (self.agent or self.id) if self.type == "agent" else None


class WorkflowSpec(Spec):
    """A workflow: a graph of steps."""

    name: Name | None = None
    """The workflow's name; must match the file's stem when given."""
    description: str | None = None
    """What the workflow does."""
    inputs: dict[Name, InputSpec] = Field(default_factory=dict)
    """Named inputs a run provides."""
    outputs: dict[Name, str] = Field(default_factory=dict)
    """Named outputs: templates over ``steps``."""
    budget_usd: Usd | None = None
    """Spending limit for one run."""
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    """How many steps may run at once."""
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    """The run fails when it takes longer than this."""
    steps: list[StepSpec] = Field(min_length=1)
    """The steps."""


class ProviderSettings(Spec):
    """A named model provider, e.g. an OpenAI-compatible server."""

    api_base: str | None = None
    """Base URL of the endpoint."""
    api_key_env: str | None = None
    """Environment variable that holds the API key (keys are never written in files)."""
    api_key_file: str | None = None
    """File that holds the API key."""
    model_prefix: str | None = None
    """litellm prefix for models of this provider, e.g. ``openai``."""
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    """Per-request timeout."""
    max_retries: Annotated[int, Field(ge=0, le=20)] | None = None
    """Retries on 429, 5xx and timeouts."""
    fallbacks: list[str] = Field(default_factory=list)
    """Models to try, in order, when this provider fails."""
    headers: dict[str, str] | None = None
    """Extra HTTP headers."""


class PluginSettings(Spec):
    """Which plugins load."""

    disabled: list[str] = Field(default_factory=list)
    """Plugins not to load, by name."""


class Price(Spec):
    """A model's price, overriding litellm's bundled price map."""

    input_per_mtok: Usd
    """Dollars per million prompt tokens."""
    output_per_mtok: Usd
    """Dollars per million completion tokens."""


class ProjectSettings(Spec):
    """``.parac/parac.yaml``: project-wide settings."""

    name: str | None = None
    """The project's name."""
    default_model: str | None = None
    """The model of agents that name none."""
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    """Plugin settings."""
    budgets: Budget | None = None
    """Workspace-wide spending limits."""
    policies: list[str] = Field(default_factory=list)
    """Extra policy files, relative to ``.parac/``, besides ``policies/*.yaml``."""
    providers: dict[Name, ProviderSettings] = Field(default_factory=dict)
    """Named model providers."""
    prices: dict[str, Price] = Field(default_factory=dict)
    """Model prices that override litellm's."""
    mcp_servers: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    """External MCP servers whose tools join parac's."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Settings for plugins, by plugin name."""


class ToolGrant(Spec):
    """Tools granted, to everyone or to the named agents and workflows."""

    tools: list[str] = Field(min_length=1)
    """Tool names or globs (``git_*``)."""
    agents: list[str] | None = None
    """Agents the grant applies to (globs); all when omitted."""
    workflows: list[str] | None = None
    """Workflows the grant applies to (globs); all when omitted."""

    _lists = field_validator("tools", "agents", "workflows", mode="before")(_comma_list)


class PolicySpec(Spec):
    """A policy file under ``.parac/policies/``: tools are denied unless a policy grants them."""

    description: str | None = None
    """What the policy is for."""
    allow: list[ToolGrant] = Field(default_factory=list)
    """Grants."""
    deny: list[str] = Field(default_factory=list)
    """Tools (or globs) denied even when granted elsewhere."""
    require_approval: list[str] = Field(default_factory=list)
    """Tools (or globs) that need a person's approval for each call."""
    rate_limits: dict[str, str] = Field(default_factory=dict)
    """Per tool (or glob): ``CALLS/PERIOD`` with PERIOD one of s, min, h, day, e.g. ``10/min``."""
    shell: dict[str, Any] = Field(default_factory=dict)
    """Shell tool settings: ``allow`` (commands), ``timeout_s``, ``max_output_bytes``."""
    http: dict[str, Any] = Field(default_factory=dict)
    """HTTP tool settings: ``allow_hosts``, ``timeout_s``, ``max_bytes``."""

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, str]) -> dict[str, str]:
        for tool, rate in value.items():
            if not re.fullmatch(r"\d+/(s|min|h|day)", str(rate)):
                raise ValueError(f'rate for "{tool}" must look like 10/min (CALLS/s|min|h|day), not "{rate}"')
        return value


SPEC_MODELS: dict[str, type[Spec]] = {
    "agent": AgentSpec,
    "workflow": WorkflowSpec,
    "skill": SkillSpec,
    "project": ProjectSettings,
    "policy": PolicySpec,
}
