"""The spec models: one pydantic model per kind of file under ``.parac/``.

These models are the single description of each format.
Validation, ``parac schema``, the language server's completion and hover (from the field descriptions), and the MCP
resources all read them from here.

Import time matters (every command and both servers pay it), hence these choices: no ``from __future__ import
annotations`` (string annotations make pydantic compile each one), descriptions in ``Field(description=...)``
rather than attribute docstrings (which pydantic finds by parsing this file's source), and empty defaults made by
small Python functions: pydantic inspects a factory's signature, and ``list``'s it can only get by parsing its text
form (25 ms on the first model), while a ``[]`` default it deep-copies for every instance.
Unknown keys are errors (``extra="forbid"``) so that a misspelt key is caught, not silently ignored.
"""

import re
from typing import Annotated, Any, Literal, Optional, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SKILL_NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
A2A_PREFIX = "a2a:"
"""A workflow step's ``agent: a2a:URL`` names a remote A2A agent, not one of the workspace's."""
AGENT_REF_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}|a2a:https?://[^\s]+)$"
AgentRef = Annotated[str, Field(pattern=AGENT_REF_PATTERN, max_length=2048)]
Usd = Annotated[float, Field(ge=0)]
ModelId = Annotated[str, Field(min_length=1)]  # "" is no model: refused rather than read as "none given"


def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


class Spec(BaseModel):
    # Built on first use: a command that reads only agents does not pay for building the policy or workflow models.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _comma_list(value: Any) -> Any:
    """Claude Code writes ``tools: Read, Grep, Glob`` (or nothing); parac writes a YAML list. Accept all three."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Budget(Spec):
    """Spending limits in US dollars; a call that would pass one is refused before it is made."""

    per_run_usd: Usd | None = Field(None, description="Limit for one run of the agent or workflow.")
    per_workflow_usd: Usd | None = Field(None, description="Limit for all runs of one workflow.")
    per_agent_usd: Usd | None = Field(None, description="Limit for all runs of one agent.")
    daily_usd: Usd | None = Field(None, description="Limit per calendar day (UTC).")
    monthly_usd: Usd | None = Field(None, description="Limit per calendar month (UTC).")
    total_usd: Usd | None = Field(None, description="Limit over the life of the workspace.")


class AgentMemory(Spec):
    """What an agent remembers: entries recalled into its context before it starts, and its own episodes."""

    recall: Annotated[int, Field(ge=0, le=50)] = Field(5, description="How many of the most relevant memory entries are added to the agent's context before it starts (0: none).")
    namespaces: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(None, description="Namespaces recalled from (``workspace``, ``agent:NAME``, ``run:ID`` or your own); default ``workspace`` and ``agent:NAME``.")
    episodic: bool = Field(False, description="Keep a summary of each finished run (task, outcome, cost, what it produced) in ``agent:NAME``, recalled by later runs.")
    ttl_days: Annotated[float, Field(gt=0)] | None = Field(None, description="The agent's episodes expire after this many days.")
    context_tokens: Annotated[int, Field(ge=256)] | None = Field(None, description="When the conversation passes this many tokens it is compacted: repeated tool outputs deduplicated, long ones cut with a pointer the model can expand (tool ``expand_output``), older turns summarised.")

    _namespaces_from_string = field_validator("namespaces", mode="before")(lambda v: _comma_list(v) if v else v)


class ReflectSpec(Spec):
    """An evaluator loop (Reflexion): the agent answers, a critic agent critiques, the agent revises."""

    critic: Name = Field(description="The agent that critiques each answer; its critique is kept in the transcript and given back for the revision.")
    max_rounds: Annotated[int, Field(ge=1, le=20)] = Field(3, description="Answers in all, the first included: after this many the last answer stands, accepted or not.")
    until: str | None = Field(None, description="When the critic accepts: a Jinja2 condition over ``critique``, ``answer`` and ``round`` (default: the critique starts with ACCEPT).")


class UpeeSpec(Spec):
    """Settings of the understand → plan → execute → evaluate loop (``loop: upee``)."""

    min_score: Annotated[float, Field(ge=0, le=1)] = Field(0.7, description="The evaluation's score (0 to 1) below which the execution is refined.")
    max_refines: Annotated[int, Field(ge=0, le=10)] = Field(1, description="How many times a low-scored execution is refined before its result stands.")


class CacheSettings(Spec):
    """The response cache: identical requests answered from the workspace database."""

    ttl_s: Annotated[int, Field(ge=1)] = Field(description="How long a cached answer is served, in seconds. Only calls at temperature 0 are cached; a hit costs $0 and its ledger row has status ``cached``.")


class AgentSpec(Spec):
    """An agent: a model, a system prompt, tools and skills. Inherits from ``parent``."""

    name: Name | None = Field(None, description="The agent's name; must match the file's stem when given.")
    parent: Name | None = Field(None, description="Another agent (from this workspace or a plugin) whose fields this one inherits.")
    description: str | None = Field(None, description="One line saying what the agent is for.")
    model: ModelId | None = Field(None, description="A litellm model id (``openai/gpt-4o``) or an offline one: ``echo``, ``fixed:TEXT``, ``random``, ``scripted:PATH``.")
    temperature: Annotated[float, Field(ge=0, le=2)] | None = Field(None, description="Sampling temperature, 0 to 2.")
    max_tokens: Annotated[int, Field(ge=1)] | None = Field(None, description="Upper bound on the tokens of each completion; bounds cost estimates too.")
    system_prompt: str | None = Field(None, description="The system prompt; for Markdown agents the body of the file.")
    tools: list[Name] = Field(default_factory=_empty_list, description="Tools the agent may call; added to the parent's.")
    exclude_tools: list[Name] = Field(default_factory=_empty_list, description="Inherited tools to take away.")
    skills: list[Name] = Field(default_factory=_empty_list, description="Skills whose instructions join the system prompt; added to the parent's.")
    max_iterations: Annotated[int, Field(ge=1, le=1000)] | None = Field(None, description="How many model turns the tool-calling loop may take.")
    budget: Budget | None = Field(None, description="Spending limits for this agent.")
    metadata: dict[str, Any] | None = Field(None, description="Free-form data for plugins and people; merged deeply with the parent's.")
    color: str | None = Field(None, description="Display colour (accepted for Claude Code subagent files).")
    delegates: list[Name] = Field(default_factory=_empty_list, description="Agents offered to this one as tools (``ask_NAME``): it gives one a task and reads its answer. Their spending counts against this run; delegation is bounded in depth.")
    handoffs: list[Name] = Field(default_factory=_empty_list, description="Agents this one may hand the conversation to (tool ``handoff_to_NAME``): that agent carries on with the whole conversation and gives the answer.")
    reflect: ReflectSpec | None = Field(None, description="Evaluator loop: ``critic`` (an agent), ``max_rounds``, ``until`` (a condition over ``critique``).")
    loop: Literal["tools", "upee"] = Field("tools", description="``tools``: the plain tool-calling loop. ``upee``: understand, plan, execute, then evaluate with a score and refine while it is below ``upee.min_score``.")
    upee: UpeeSpec | None = Field(None, description="Settings of ``loop: upee``: ``min_score``, ``max_refines``.")
    memory: AgentMemory | None = Field(None, description="What the agent recalls before it starts, whether it keeps episodes of its runs, and ``context_tokens``, past which its conversation is compacted.")
    cache: CacheSettings | None = Field(None, description="Response cache (off by default; only for temperature 0): ``ttl_s``.")

    _tools_from_string = field_validator("tools", "exclude_tools", "skills", "delegates", "handoffs", mode="before")(_comma_list)


class SkillSpec(Spec):
    """The front matter of an Agent Skills ``SKILL.md``."""

    name: Annotated[str, Field(pattern=SKILL_NAME_PATTERN, max_length=64)] = Field(description="Lowercase letters, digits and hyphens; must match the skill's folder.")
    description: Annotated[str, Field(min_length=1, max_length=1024)] = Field(description="What the skill does and when to use it.")
    license: str | None = Field(None, description="The skill's licence.")
    compatibility: str | None = Field(None, description="Environment requirements, if any.")
    allowed_tools: list[str] | None = Field(default=None, alias="allowed-tools", description="Tools the skill may use.")
    metadata: dict[str, Any] | None = Field(None, description="Free-form data.")

    _tools_from_string = field_validator("allowed_tools", mode="before")(lambda v: _comma_list(v) if v else v)


class InputSpec(Spec):
    """A workflow input."""

    type: Literal["string", "number", "integer", "boolean", "object", "array"] = Field("string", description="The JSON type the value must have.")
    required: bool = Field(False, description="Whether a run must provide it.")
    default: Any = Field(None, description="Used when a run does not provide it.")
    description: str | None = Field(None, description="What the input means.")


class RetrySpec(Spec):
    """How a failed step is retried."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(1, description="Attempts in all, the first included.")
    backoff: Literal["exponential", "fixed", "none"] = Field("exponential", description="Delay between attempts: doubled each time (with jitter), constant, or none.")
    initial_delay_s: Annotated[float, Field(ge=0)] = Field(1.0, description="Delay before the second attempt.")
    max_delay_s: Annotated[float, Field(ge=0)] = Field(60.0, description="Upper bound on any delay.")


class EscalationSpec(Spec):
    """Who a human task passes to when nobody has answered it in time."""

    after_s: Annotated[float, Field(gt=0)] = Field(description="Seconds after the task was assigned (not after the last escalation).")
    to: Annotated[str, Field(min_length=1)] = Field(description="The role the task is assigned to from then on.")


class WorkSpec(Spec):
    """What a DAG step, a state-machine state or a behaviour-tree action does: the fields they all hold."""

    type: Literal["agent", "tool", "approval", "human", "workflow", "council"] = Field("agent", description="What it does: run an agent, call a tool, wait for a person's approval, wait for a person's answer to a form (human), run another workflow, or ask a council of agents.")
    description: str | None = Field(None, description="What it is for.")
    agent: AgentRef | None = Field(None, description="The agent that runs it (type agent); defaults to the step id or state name. ``a2a:URL`` sends the task to a remote A2A agent through the ``a2a_send`` tool (policies must grant it).")
    task: str | None = Field(None, description="The agent's task, a Jinja2 template over ``inputs`` and ``steps`` (or ``state`` and ``states``).")
    tool: Name | None = Field(None, description="The tool to call (type tool).")
    arguments: dict[str, Any] | None = Field(None, description="The tool's arguments; string values are templates.")
    workflow: Name | None = Field(None, description="The sub-workflow to run (type workflow).")
    inputs: dict[str, Any] | None = Field(None, description="Inputs for the sub-workflow; string values are templates.")
    model: ModelId | None = Field(None, description="Overrides the agent's model for this step.")
    retry: RetrySpec | None = Field(None, description="Retries on failure.")
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(None, description="The step fails when it runs longer than this.")
    timeout_action: Literal["reject", "approve"] | None = Field(None, description="For approvals with a timeout: what happens when nobody answers.")
    message: str | None = Field(None, description="What the person is asked (type approval or human), a Jinja2 template.")
    assign: Annotated[str, Field(min_length=1)] | None = Field(None, description="The role a human task is assigned to (type human).")
    form: dict[str, Any] | None = Field(None, description="A JSON Schema the answer to a human task must satisfy (type human); any JSON object when absent.")
    escalate: list[EscalationSpec] | None = Field(None, description="Reassign an unanswered human task: after after_s seconds, to another role.")
    agents: list[Name] = Field(default_factory=_empty_list, description="The council's members (type council): they answer the task in parallel.")
    strategy: Literal["vote", "judge", "debate"] = Field("vote", description="How the council decides (type council): ``vote`` (the most frequent answer), ``judge`` (the ``judge`` agent picks), ``debate`` (``rounds`` of answers that read each other's, then a vote, or the judge when one is named).")
    rounds: Annotated[int, Field(ge=1, le=10)] = Field(2, description="Rounds of a debate (type council), the first answers included.")
    judge: Name | None = Field(None, description="The agent that decides (type council, strategy judge; optional for debate).")

    _agents_from_string = field_validator("agents", mode="before")(_comma_list)

    @model_validator(mode="before")
    @classmethod
    def _infer_type(cls, data: Any) -> Any:
        """A step that names a tool or a workflow and no type is of that type: ``type:`` is then redundant."""
        if isinstance(data, dict) and "type" not in data:
            for kind in ("tool", "workflow"):
                if data.get(kind):
                    return {**data, "type": kind}
        return data

    @field_validator("form")
    @classmethod
    def _form_is_a_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """A form that is no JSON Schema would refuse every answer: say so when the file is read, not at the run."""
        if value is not None:
            from jsonschema import Draft202012Validator, SchemaError  # lazy: only files with forms pay for it

            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"not a JSON Schema: {exc.message}") from None
        return value

    @property
    def remote_agent(self) -> str | None:
        """The URL of the remote A2A agent this work is for (``agent: a2a:URL``), else None."""
        agent = self.agent if self.type == "agent" else None
        return agent[len(A2A_PREFIX):] if agent is not None and agent.startswith(A2A_PREFIX) else None

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if self.type == "tool" and not self.tool:
            raise ValueError('a step of type "tool" needs "tool"')
        if self.type == "workflow" and not self.workflow:
            raise ValueError('a step of type "workflow" needs "workflow"')
        if self.type == "council" and not self.agents:
            raise ValueError('a step of type "council" needs "agents"')
        if self.type == "council" and self.strategy == "judge" and not self.judge:
            raise ValueError('a council with strategy "judge" needs "judge"')
        if self.type == "human" and not self.assign:
            raise ValueError('a step of type "human" needs "assign" (the role that answers it)')
        if self.type != "human" and (self.assign or self.form or self.escalate):
            raise ValueError('"assign", "form" and "escalate" belong to steps of type "human"')
        return self


class StepSpec(WorkSpec):
    """One step of a workflow."""

    id: Name = Field(description="Unique within the workflow; other steps name it in ``depends_on`` and templates.")
    depends_on: list[Name] = Field(default_factory=_empty_list, description="Steps that must finish before this one starts.")
    when: str | None = Field(None, description="A Jinja2 condition; the step is skipped when it is false.")
    continue_on_error: bool = Field(False, description="A failure marks the step failed but lets its dependents run.")

    _deps_from_string = field_validator("depends_on", mode="before")(_comma_list)

    @property
    def agent_name(self) -> str | None:
        return (self.agent or self.id) if self.type == "agent" else None


class TransitionSpec(Spec):
    """A way out of a state: the first whose ``when`` holds (or that has none) is taken."""

    to: Name = Field(description="The state to go to.")
    when: str | None = Field(None, description="A Jinja2 condition over ``inputs``, ``state`` (this state: ``state.output``, ``state.visits``), ``states.NAME.output|visits`` and ``run``; none means always.")


class StateSpec(WorkSpec):
    """One state of a state machine (``kind: fsm``): the work done on entering it, then where to go."""

    final: bool = Field(False, description="The run completes on reaching this state; a final state does no work and has no transitions.")
    transitions: list[TransitionSpec] = Field(default_factory=_empty_list, description="Tried in order after the state's work: the first that matches is taken; no match is an error.")

    @model_validator(mode="after")
    def _final_is_empty(self) -> Self:
        if self.final:
            fields = type(self).model_fields
            extra = [name for name, info in fields.items()
                     if name not in ("final", "description") and getattr(self, name) != info.get_default(call_default_factory=True)]
            if extra:
                raise ValueError(f"a final state does no work and goes nowhere: remove {', '.join(extra)}")
        return self


class ActionSpec(WorkSpec):
    """A behaviour tree's leaf that does work: a step, as in a DAG (an agent, a tool, an approval, a human task or a
    sub-workflow)."""

    id: Name = Field(description="The action's name: its step in the run (``draft``, then ``draft#2`` when run again) and in templates (``steps.draft.output``).")

    @property
    def agent_name(self) -> str | None:
        return (self.agent or self.id) if self.type == "agent" else None


NODE_KINDS = ("sequence", "selector", "parallel", "retry", "timeout", "invert", "repeat", "until_success", "action", "condition")


class NodeSpec(Spec):
    """A behaviour tree node: exactly one of the composites (``sequence``, ``selector``, ``parallel``), decorators
    (``retry``, ``timeout``, ``repeat``, ``until_success`` with ``child``; ``invert``) or leaves (``action``,
    ``condition``)."""

    sequence: list["NodeSpec"] | None = Field(None, description="Run the children in order; fails at the first that fails.")
    selector: list["NodeSpec"] | None = Field(None, description="Run the children in order until one succeeds (a fallback); fails when all fail.")
    parallel: list["NodeSpec"] | None = Field(None, description="Run the children at once; when all have ended, succeed if ``success`` of them did.")
    success: Literal["all", "one"] | Annotated[int, Field(ge=1)] | None = Field(None, description="For parallel: how many children must succeed: all (the default), one, or a number.")
    retry: Annotated[int, Field(ge=1, le=100)] | None = Field(None, description="Run ``child`` again after a failure, up to this many attempts in all.")
    timeout: Annotated[float, Field(gt=0)] | None = Field(None, description="``child`` fails when it has not succeeded this many seconds after its first action started.")
    repeat: Annotated[int, Field(ge=1, le=10000)] | None = Field(None, description="Run ``child`` this many times; fails at the first failure.")
    until_success: Annotated[int, Field(ge=1, le=10000)] | None = Field(None, description="Run ``child`` until it succeeds, at most this many times.")
    child: Optional["NodeSpec"] = Field(None, description="The node a retry, timeout, repeat or until_success decorates.")
    invert: Optional["NodeSpec"] = Field(None, description="The node whose success is a failure here, and the other way round.")
    action: ActionSpec | None = Field(None, description="A leaf that does work: a step.")
    condition: str | None = Field(None, description="A leaf that succeeds when this Jinja2 condition over ``inputs``, ``steps`` and ``run`` holds.")

    @property
    def kind(self) -> str:
        return next(kind for kind in NODE_KINDS if getattr(self, kind) is not None)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [kind for kind in NODE_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"a node is exactly one of {', '.join(NODE_KINDS)} (found {found})")
        decorates = kinds[0] in ("retry", "timeout", "repeat", "until_success")
        if decorates and self.child is None:
            raise ValueError(f'"{kinds[0]}" decorates a node: give it as "child"')
        if not decorates and self.child is not None:
            raise ValueError(f'"child" belongs to retry, timeout, repeat and until_success, not "{kinds[0]}"')
        if self.success is not None and kinds[0] != "parallel":
            raise ValueError('"success" belongs to parallel')
        return self


class PlannedStep(Spec):
    """One step of a plan an LLM planner writes (``kind: llm_plan``): an agent with a task, a tool call, or a
    person's approval (a gate the steps after it wait for)."""

    id: Name = Field(description="Unique in the run (a later plan may not reuse an earlier plan's ids).")
    agent: Name | None = Field(None, description="An agent of the workspace, given ``task``.")
    task: str | None = Field(None, description="The agent's task; may read earlier steps as ``{{ steps.ID.output }}``.")
    tool: Name | None = Field(None, description="A tool the policies grant this workflow, given ``arguments``.")
    arguments: dict[str, Any] | None = Field(None, description="The tool's arguments.")
    approval: str | None = Field(None, description="A question a person must approve before the steps that depend on this one run.")
    depends_on: list[Name] = Field(default_factory=_empty_list, description="Steps that must finish first.")

    @model_validator(mode="after")
    def _agent_or_tool(self) -> Self:
        if [self.agent, self.tool, self.approval].count(None) != 2:
            raise ValueError('a planned step names an agent (with "task"), a tool (with "arguments") or an approval, exactly one')
        if self.agent is not None and not self.task:
            raise ValueError('an agent step needs "task"')
        return self


class PlanSpec(Spec):
    """The JSON a planner agent answers with (``kind: llm_plan``); ``parac schema plan`` publishes its schema."""

    steps: list[PlannedStep] = Field(min_length=1, max_length=100, description="The steps, with their dependencies.")

    def as_steps(self) -> list[dict[str, Any]]:
        """The plan as the DAG steps that run it."""
        out = []
        for step in self.steps:
            data = step.model_dump(exclude_none=True)
            if step.approval is not None:
                data["message"] = data.pop("approval")
            out.append({**data, "type": "agent" if step.agent else "tool" if step.tool else "approval"})
        return out


class WorkflowSpec(Spec):
    """A workflow: a graph of steps (``kind: dag``, the default) or a state machine (``kind: fsm``)."""

    kind: Literal["dag", "fsm", "behavior_tree", "llm_plan"] | None = Field(None, description="How the run moves: a graph of ``steps`` with ``depends_on`` (dag, the default), ``states`` with ``transitions`` from ``initial`` (fsm), a tree of nodes from ``root`` (behavior_tree), or a plan a ``planner`` agent writes for a ``goal`` (llm_plan).")
    name: Name | None = Field(None, description="The workflow's name; must match the file's stem when given.")
    description: str | None = Field(None, description="What the workflow does.")
    inputs: dict[Name, InputSpec] = Field(default_factory=_empty_dict, description="Named inputs a run provides.")
    outputs: dict[Name, str] = Field(default_factory=_empty_dict, description="Named outputs: templates over ``steps`` (or ``states``).")
    budget_usd: Usd | None = Field(None, description="Spending limit for one run.")
    concurrency: Annotated[int, Field(ge=1, le=256)] = Field(8, description="How many steps may run at once.")
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(None, description="The run fails when it takes longer than this.")
    steps: list[StepSpec] = Field(default_factory=_empty_list, description="The steps (kind dag).")
    initial: Name | None = Field(None, description="The state a run starts in (kind fsm).")
    max_transitions: Annotated[int, Field(ge=1, le=100000)] | None = Field(None, description="A run that would take more transitions fails (kind fsm; 100 when not given): a loop cannot run forever.")
    states: dict[Name, StateSpec] | None = Field(None, description="The states, by name (kind fsm).")
    root: NodeSpec | None = Field(None, description="The tree's root node (kind behavior_tree).")
    planner: Name | None = Field(None, description="The agent that writes the plan, as JSON satisfying ``parac schema plan`` (kind llm_plan).")
    goal: str | None = Field(None, description="What the plan is for: a Jinja2 template over ``inputs`` (kind llm_plan).")
    fallback: Name | None = Field(None, description="The workflow run instead when no valid plan within budget comes (kind llm_plan); it gets this run's inputs.")
    max_replans: Annotated[int, Field(ge=0, le=20)] | None = Field(None, description="Plans asked again after a refused plan or a failed step (kind llm_plan; 2 when not given).")

    @property
    def flow(self) -> str:
        """The workflow's kind, ``dag`` when the file does not say (the new keys default to None so that a DAG's
        stored definition holds only what it always held)."""
        return self.kind or "dag"


class ProviderSettings(Spec):
    """A named model provider, e.g. an OpenAI-compatible server."""

    api_base: str | None = Field(None, description="Base URL of the endpoint.")
    api_key_env: str | None = Field(None, description="Environment variable that holds the API key (keys are never written in files).")
    api_key_file: str | None = Field(
        None, description="File that holds the API key; a relative path starts in .parac/, beside parac.yaml."
    )
    model_prefix: str | None = Field(None, description="litellm prefix for models of this provider, e.g. ``openai``.")
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(None, description="Per-request timeout.")
    max_retries: Annotated[int, Field(ge=0, le=20)] | None = Field(None, description="Retries on 429, 5xx and timeouts.")
    fallbacks: list[str] = Field(default_factory=_empty_list, description="Models to try, in order, when this provider fails.")
    headers: dict[str, str] | None = Field(None, description="Extra HTTP headers.")


class PluginSettings(Spec):
    """Which plugins load."""

    disabled: list[str] = Field(default_factory=_empty_list, description="Plugins not to load, by name.")


class Price(Spec):
    """A model's price, overriding litellm's bundled price map."""

    input_per_mtok: Usd = Field(description="Dollars per million prompt tokens.")
    output_per_mtok: Usd = Field(description="Dollars per million completion tokens.")


class ToolProfile(Spec):
    """A named set of MCP tools: a tool is in it when any of the three lists takes it."""

    tools: list[str] = Field(default_factory=_empty_list, description="Tool names or globs (``git_*``).")
    plugins: list[str] = Field(default_factory=_empty_list, description="Plugins whose every tool is in the profile.")
    servers: list[str] = Field(default_factory=_empty_list, description="External MCP servers (``mcp_servers``) whose every tool is in the profile.")

    _lists = field_validator("tools", "plugins", "servers", mode="before")(_comma_list)


class McpSettings(Spec):
    """What parac's MCP server offers: the tool profile it serves, and profiles of the project's own."""

    profile: str = Field("all", description="The profile served: ``all`` (the default), ``minimal``, ``authoring``, ``operations``, or one of ``profiles``; ``parac mcp serve --profile`` overrides it.")
    profiles: dict[Name, ToolProfile] = Field(default_factory=_empty_dict, description="The project's own profiles, by name (a name of a built-in one replaces it).")
    token_file: str | None = Field(None, description="A file (relative to ``.parac/``) holding the bearer token every HTTP request must present; ``PARAC_MCP_TOKEN`` overrides it.")
    max_body_bytes: int | None = Field(None, description="The HTTP transport's body cap (``--max-body`` overrides it).")
    oauth: dict[str, Any] | None = Field(None, description="OAuth 2.1 protected resource: JWT access tokens of one issuer (``issuer``, ``jwks_file`` or ``jwks_url``, ``resource``, ``audience``, ``role_claim``, ``roles``); checked when ``parac mcp serve`` starts.")


Role = Literal["viewer", "operator", "admin"]


class JwtSettings(Spec):
    """JWT bearer tokens from one issuer: which key signs them, whom they are for, where the role is."""

    issuer: str = Field(description="The issuer; tokens must carry it as ``iss``.")
    audience: str | None = Field(None, description="The ``aud`` tokens must name (default: the server's own URL).")
    key_file: str | None = Field(None, description="A shared HS256 secret, in a file (relative paths start in .parac/).")
    public_key_file: str | None = Field(None, description="The issuer's RS256 or ES256 public key, PEM, in a file.")
    jwks_file: str | None = Field(None, description="The issuer's JSON Web Key Set (RS256/ES256), in a file.")
    jwks_url: str | None = Field(None, description="Where to fetch the issuer's key set (https, cached).")
    role_claim: str | None = Field(None, description="The claim that carries the caller's role (default: viewer).")
    roles: dict[str, Role] = Field(default_factory=_empty_dict, description="Claim values to parac roles.")

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        given = [self.key_file, self.public_key_file, self.jwks_file, self.jwks_url]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of jwks_file and jwks_url (or public_key_file, or key_file for HS256)")
        return self


class HmacKey(Spec):
    """A key that signs requests (``X-Parac-Key``, ``X-Parac-Timestamp``, ``X-Parac-Signature``)."""

    secret_file: str = Field(description="The shared secret, in a file (relative paths start in .parac/).")
    role: Role = Field(description="The role requests signed with this key get.")


class RateLimit(Spec):
    """A token bucket per credential: ``burst`` requests at once, refilled at ``per_second``."""

    per_second: Annotated[float, Field(gt=0)] = Field(description="Requests per second, sustained.")
    burst: Annotated[int, Field(ge=1)] = Field(description="Requests allowed at once after a quiet spell.")


class A2ASettings(Spec):
    """Which agents ``parac serve`` publishes over the Agent2Agent protocol (needs the ``a2a`` extra)."""

    enabled: bool = Field(True, description="Publish agents over A2A (when the a2a-sdk is installed); false: no A2A routes.")
    agents: list[Name] | None = Field(None, description="The agents published, each at ``/a2a/NAME/``; all of the workspace's when omitted.")


class RemoteAgent(Spec):
    """A remote A2A agent parac calls (``a2a_send``, a step's ``agent: a2a:URL``) with a bearer token."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$")] = Field(description="The agent's base URL: a call to it, or to a URL under it, is sent with the token.")
    token_env: str = Field(min_length=1, description="The environment variable that holds the bearer token (tokens are never written in files). It is sent only to the URL's own scheme, host and port.")


class ServeSettings(Spec):
    """How ``parac serve`` authenticates and guards its HTTP requests (bearer tokens come from ``parac token``)."""

    jwt: JwtSettings | None = Field(None, description="Accept JWT bearer tokens from this issuer.")
    hmac_keys: dict[Name, HmacKey] = Field(default_factory=_empty_dict, description="Keys that sign requests, by key id.")
    allowed_origins: list[str] = Field(default_factory=_empty_list, description="Browser Origins allowed besides the bound address.")
    allowed_hosts: list[str] = Field(default_factory=_empty_list, description="Host header values allowed besides the bound address (a proxy's name).")
    cors_origins: list[str] = Field(default_factory=_empty_list, description="Origins whose pages may read the API's answers (CORS).")
    max_body_bytes: Annotated[int, Field(ge=1024)] | None = Field(None, description="Largest request body accepted (default 4 MiB).")
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = Field(30.0, description="Seconds a request's body may take to arrive whole; a slower or stalled upload is answered 408.")
    rate_limit: RateLimit | None = Field(None, description="Per-credential rate limit (default 50/s, burst 100).")
    a2a: A2ASettings = Field(default_factory=A2ASettings, description="Agents published over A2A (agent cards, ``message/send``, ``message/stream``, ``tasks/get``, ``tasks/cancel``).")


class MemorySettings(Spec):
    """The workspace's memory (``parac memory``, the ``memory_*`` tools, agents' recall)."""

    max_entry_chars: Annotated[int, Field(ge=100, le=1_000_000)] = Field(20_000, description="The largest entry accepted, in characters; a larger one is refused (ingested files are cut into sections below it).")
    ttl_days: Annotated[float, Field(gt=0)] | None = Field(None, description="Entries expire after this many days unless they say otherwise.")
    embedding_model: ModelId | None = Field(None, description="A litellm embedding model (``openai/text-embedding-3-small``) or one a plugin's provider serves: searches then also rank by vector similarity (needs the ``vector`` extra). Never downloaded: the model must be reachable as configured.")
    episodes: bool = Field(True, description="Keep a summary of every finished workflow run in ``workflow:NAME``.")


class TelemetrySettings(Spec):
    """Traces of runs, model calls and tool calls sent to an OpenTelemetry collector (see ``parac.core.telemetry``).
    The standard ``OTEL_*`` environment variables win over these."""

    enabled: bool | None = Field(None, description="Send traces (default: only when ``endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` names a collector).")
    endpoint: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")] | None = Field(None, description="The collector's OTLP/HTTP base URL (``http://127.0.0.1:4318``); spans go to ``/v1/traces`` beneath it.")
    service_name: str | None = Field(None, description="``service.name`` of the traces (default ``parac``; ``OTEL_SERVICE_NAME`` wins).")
    capture_content: bool = Field(False, description="Record prompts, model answers, tool arguments and results on the spans, redacted first (off: only names, sizes, tokens and costs).")


class EngineSettings(Spec):
    """Where workflow runs execute: the embedded SQLite engine (the default), or DBOS over Postgres, whose worker
    processes on any host share one queue and recover each other's runs (``PARAC_DATABASE_URL`` overrides the URL)."""

    kind: Literal["embedded", "dbos"] = Field("embedded", description="``embedded`` (SQLite, in-process) or ``dbos`` (Postgres, ``parac worker`` processes).")
    database_url: Annotated[str, Field(pattern=r"^postgres(ql)?://")] | None = Field(None, description="The Postgres database of the ``dbos`` engine (``postgresql://user:password@host:port/db``).")
    queue: Name = Field("parac", description="The queue runs are enqueued on; ``parac worker --queue`` serves one.")


class ProjectSettings(Spec):
    """``.parac/parac.yaml``: project-wide settings."""

    name: str | None = Field(None, description="The project's name.")
    default_model: ModelId | None = Field(None, description="The model of agents that name none.")
    plugins: PluginSettings = Field(default_factory=PluginSettings, description="Plugin settings.")
    budgets: Budget | None = Field(None, description="Workspace-wide spending limits.")
    policies: list[str] = Field(default_factory=_empty_list, description="Extra policy files, relative to ``.parac/``, besides ``policies/*.yaml``.")
    providers: dict[Name, ProviderSettings] = Field(default_factory=_empty_dict, description="Named model providers.")
    prices: dict[str, Price] = Field(default_factory=_empty_dict, description="Model prices that override litellm's.")
    mcp_servers: dict[Name, dict[str, Any]] = Field(default_factory=_empty_dict, description="External MCP servers whose tools join parac's.")
    mcp: McpSettings = Field(default_factory=McpSettings, description="The MCP server: its tool profile (``profile``), the project's own profiles (``profiles``), and its HTTP transport (``token_file``, ``oauth``, ``max_body_bytes``).")
    serve: ServeSettings = Field(default_factory=ServeSettings, description="``parac serve``: JWT and HMAC credentials, allow-lists, CORS, body cap, rate limit.")
    a2a_agents: dict[Name, RemoteAgent] = Field(default_factory=_empty_dict, description="Remote A2A agents that want a bearer token: ``url`` and ``token_env``, by a name of your choosing.")
    engine: EngineSettings = Field(default_factory=EngineSettings, description="The workflow engine: ``embedded`` (default) or ``dbos`` over Postgres.")
    settings: dict[str, Any] = Field(default_factory=_empty_dict, description="Settings for plugins, by plugin name.")
    memory: MemorySettings = Field(default_factory=MemorySettings, description="The workspace's memory: entry size limit, retention, optional embedding model.")
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings, description="Traces sent to an OpenTelemetry collector: ``enabled``, ``endpoint``, ``service_name``, ``capture_content``.")
    data_minimisation: bool = Field(False, description="Mask every kind of personal data (email, phone, card and account numbers, IP addresses) before anything is audited, logged or sent to a model, besides the secrets that are always masked.")


class ToolGrant(Spec):
    """Tools granted, to everyone or to the named agents and workflows."""

    tools: list[str] = Field(min_length=1, description="Tool names or globs (``git_*``).")
    agents: list[str] | None = Field(None, description="Agents the grant applies to (globs); all when omitted.")
    workflows: list[str] | None = Field(None, description="Workflows the grant applies to (globs); all when omitted.")

    _lists = field_validator("tools", "agents", "workflows", mode="before")(_comma_list)


class ShellLimits(Spec):
    """Per-command resource limits inside the sandbox; several policies together keep the strictest."""

    cpu_s: Annotated[int, Field(gt=0)] | None = Field(None, description="CPU seconds per process (default 600).")
    memory_mb: Annotated[int, Field(gt=0)] | None = Field(None, description="Address space per process, in MB (default 4096).")
    processes: Annotated[int, Field(gt=0)] | None = Field(None, description="Processes and threads in the sandbox (default 256).")
    file_size_mb: Annotated[int, Field(gt=0)] | None = Field(None, description="Largest file a command may write, in MB (default 1024).")


class ShellPolicy(Spec):
    """What the shell tool may run. Commands run as argument vectors, never through a shell, inside a sandbox."""

    allow: list[str] = Field(default_factory=_empty_list, description="Allowed commands as argument-vector prefixes: ``pytest`` allows any ``pytest …``, ``git status`` only that.")
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(None, description="The process group is killed after this many seconds (default 60).")
    max_output_bytes: Annotated[int, Field(gt=0)] | None = Field(None, description="Output kept per stream; the rest is dropped (default 1,000,000).")
    env: list[str] = Field(default_factory=_empty_list, description="Environment variables passed through by name (others, secrets above all, are not inherited).")
    sandbox: Literal["bubblewrap", "none"] | None = Field(None, description="``bubblewrap`` (the default): commands see only the workspace and the system, read-only where protected. ``none`` runs them unconfined (every such call's audit entry says so); without it, where no sandbox can start, commands are refused.")
    network: bool | None = Field(None, description="Let commands reach the network (default: no network in the sandbox).")
    limits: ShellLimits = Field(default_factory=ShellLimits, description="``cpu_s``, ``memory_mb``, ``processes``, ``file_size_mb``.")

    _lists = field_validator("allow", "env", mode="before")(_comma_list)


class HttpPolicy(Spec):
    """Which hosts the HTTP tool may reach, and its limits."""

    allow_hosts: list[str] = Field(default_factory=_empty_list, description="Host names (``api.github.com``), subdomain globs (``*.pypi.org``), with an optional ``:port``.")
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(None, description="Total time for one request, redirects included (default 30).")
    max_bytes: Annotated[int, Field(gt=0)] | None = Field(None, description="Largest response body read (default 5,000,000).")
    max_request_bytes: Annotated[int, Field(gt=0)] | None = Field(None, description="Largest request body sent (default 1,000,000).")
    max_redirects: Annotated[int, Field(ge=0, le=20)] | None = Field(None, description="Redirects followed, to the same host only (default 5).")

    _lists = field_validator("allow_hosts", mode="before")(_comma_list)


class FilesPolicy(Spec):
    """Extra limits for file tools, beyond the workspace root and ``.parac/state``."""

    hidden: list[str] = Field(default_factory=_empty_list, description="Workspace-relative folders or files no tool may read or write.")
    read_only: list[str] = Field(default_factory=_empty_list, description="Workspace-relative folders or files tools may read but not change.")


class RedactionPolicy(Spec):
    """What is masked before anything is audited, logged or sent to a model (secrets always are)."""

    patterns: list[str] = Field(default_factory=_empty_list, description="Regular expressions whose matches are masked.")
    pii: list[Literal["email", "phone", "credit-card", "iban", "us-ssn", "ipv4", "all"]] = Field(default_factory=_empty_list, description="Kinds of personal data to mask.")

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f'"{pattern}" is not a valid regular expression: {exc}') from None
        return value


class PolicySpec(Spec):
    """A policy file under ``.parac/policies/``: tools are denied unless a policy grants them."""

    description: str | None = Field(None, description="What the policy is for.")
    allow: list[ToolGrant] = Field(default_factory=_empty_list, description="Grants.")
    deny: list[str] = Field(default_factory=_empty_list, description="Tools (or globs) denied even when granted elsewhere.")
    require_approval: list[str] = Field(default_factory=_empty_list, description="Tools (or globs) that need a person's approval for each call.")
    rate_limits: dict[str, str] = Field(default_factory=_empty_dict, description="Per tool (or glob): ``CALLS/PERIOD`` with PERIOD one of s, min, h, day, e.g. ``10/min``.")
    shell: ShellPolicy = Field(default_factory=ShellPolicy, description="Shell tool settings: ``allow`` (commands), ``timeout_s``, ``max_output_bytes``, ``env``, ``sandbox``, ``network``, ``limits``.")
    http: HttpPolicy = Field(default_factory=HttpPolicy, description="HTTP tool settings: ``allow_hosts``, ``timeout_s``, ``max_bytes``, ``max_request_bytes``, ``max_redirects``.")
    files: FilesPolicy = Field(default_factory=FilesPolicy, description="File tool settings: ``hidden`` and ``read_only`` paths.")
    redaction: RedactionPolicy = Field(default_factory=RedactionPolicy, description="Extra patterns and personal data to mask.")

    _lists = field_validator("deny", "require_approval", mode="before")(_comma_list)

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
    "plan": PlanSpec,
}


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one kind of spec file, for ``parac schema``, MCP resources and editors."""
    model = SPEC_MODELS[kind]
    out = model.model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out.setdefault("title", model.__name__)
    return out
