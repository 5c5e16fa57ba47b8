"""Workflows more than one folder of tests runs."""

#: The issue's state machine: a refund goes to a person (a human task), anything else is answered by an agent.
SUPPORT = """\
kind: fsm
inputs: {ticket: {type: string, required: true}}
initial: triage
max_transitions: 20
states:
  triage:
    agent: pm
    task: "Classify this ticket: {{ inputs.ticket }}"
    transitions:
      - {to: escalate, when: "{{ 'refund' in state.output }}"}
      - {to: answer}
  answer: {agent: coder, task: "Answer: {{ inputs.ticket }}", transitions: [{to: done}]}
  escalate: {type: human, assign: support-lead, message: "Refund asked: {{ inputs.ticket }}", transitions: [{to: done}]}
  done: {final: true}
"""
