// parac dashboard: a run's live graph and timeline (SSE), the chat stream, local times. No dependencies.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function localTimes() {
  for (const node of document.querySelectorAll("time[data-ts]")) {
    const raw = node.dataset.ts;
    const date = /^[0-9.]+$/.test(raw) ? new Date(parseFloat(raw) * 1000) : new Date(raw);
    if (!isNaN(date)) { node.dateTime = date.toISOString(); node.textContent = date.toLocaleString(); }
  }
}

// -- a run: its steps as a layered graph, coloured by status, and a Gantt of when each ran -----------------------

function levels(steps, depends) {
  const level = {};
  const of = (id, seen) => {
    if (id in level) return level[id];
    if (seen.has(id)) return 0;
    seen.add(id);
    const parents = (depends[id] || []).filter((p) => steps.some((s) => s.id === p));
    level[id] = parents.length ? 1 + Math.max(...parents.map((p) => of(p, seen))) : 0;
    return level[id];
  };
  steps.forEach((s) => of(s.id, new Set()));
  return level;
}

function drawGraph(svg, steps, depends) {
  const level = levels(steps, depends);
  const narrow = svg.parentNode.clientWidth < 600;
  const W = 150, H = 36, GX = 40, GY = 22;
  const rows = {};
  const place = {};
  for (const step of steps) {
    const l = level[step.id];
    rows[l] = (rows[l] || 0) + 1;
    const i = rows[l] - 1;
    place[step.id] = narrow ? { x: 10 + i * (W + GX / 2), y: 10 + l * (H + GY) } : { x: 10 + l * (W + GX), y: 10 + i * (H + GY) };
  }
  const maxX = Math.max(...Object.values(place).map((p) => p.x)) + W + 10;
  const maxY = Math.max(...Object.values(place).map((p) => p.y)) + H + 10;
  svg.setAttribute("viewBox", `0 0 ${maxX} ${maxY}`);
  svg.setAttribute("width", maxX);  // drawn at its size (shrunk, not stretched, in a narrow window)
  svg.replaceChildren();
  for (const step of steps) {
    for (const parent of depends[step.id] || []) {
      const a = place[parent], b = place[step.id];
      if (!a) continue;
      const d = narrow ? `M${a.x + W / 2} ${a.y + H} L${b.x + W / 2} ${b.y}` : `M${a.x + W} ${a.y + H / 2} L${b.x} ${b.y + H / 2}`;
      el("path", { d, class: "edge" }, svg);
    }
  }
  for (const step of steps) {
    const p = place[step.id];
    const link = el("a", { href: `#step-${step.id}`, "aria-label": `${step.id}: ${step.status}` }, svg);
    el("rect", { x: p.x, y: p.y, width: W, height: H, class: `s-${step.status}`, "data-step": step.id }, link);
    const text = el("text", { x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle", class: "on" }, link);
    text.textContent = step.id.length > 20 ? step.id.slice(0, 19) + "…" : step.id;
  }
}

function drawGantt(svg, spans) {
  const ids = Object.keys(spans);
  svg.replaceChildren();
  if (!ids.length) { svg.setAttribute("viewBox", "0 0 300 24"); el("text", { x: 8, y: 16 }, svg).textContent = "No step has started yet."; return; }
  const now = Date.now() / 1000;
  const t0 = Math.min(...ids.map((id) => spans[id].start));
  const t1 = Math.max(...ids.map((id) => spans[id].end || now));
  const total = Math.max(t1 - t0, 0.001);
  const L = 110, R = 22, W = Math.max(160, Math.min(900, svg.parentNode.clientWidth - L - 80));
  svg.setAttribute("viewBox", `0 0 ${L + W + 70} ${ids.length * R + 8}`);
  svg.setAttribute("width", L + W + 70);
  ids.forEach((id, i) => {
    const span = spans[id];
    const x = L + ((span.start - t0) / total) * W;
    const w = Math.max((((span.end || now) - span.start) / total) * W, 2);
    el("text", { x: 0, y: i * R + 16 }, svg).textContent = id.length > 18 ? id.slice(0, 17) + "…" : id;
    const bar = el("rect", { x, y: i * R + 4, width: w, height: R - 6, class: `s-${span.status}` }, svg);
    el("title", {}, bar).textContent = `${id}: ${span.status}, ${((span.end || now) - span.start).toFixed(2)} s`;
    el("text", { x: x + w + 4, y: i * R + 16 }, svg).textContent = `${((span.end || now) - span.start).toFixed(2)} s`;
  });
}

const secs = (ts) => (typeof ts === "number" ? ts : Date.parse(ts) / 1000);

function watchRun(root) {
  const data = JSON.parse(document.getElementById("run-data").textContent);
  const steps = data.steps;
  const graph = document.getElementById("graph");
  const gantt = document.getElementById("gantt");
  const spans = {};
  const redraw = () => { drawGraph(graph, steps, data.depends); drawGantt(gantt, spans); };
  const setStep = (id, status) => { const s = steps.find((x) => x.id === id); if (s) s.status = status; };
  redraw();
  const source = new EventSource(`/runs/${encodeURIComponent(root.dataset.run)}/events`);
  const on = (name, handle) => source.addEventListener(name, (event) => { handle(JSON.parse(event.data)); redraw(); });
  on("workflow.step.start", (e) => { setStep(e.step, "running"); spans[e.step] = { start: secs(e.ts), end: null, status: "running" }; });
  const ended = (e) => {
    setStep(e.step, e.status);
    const span = spans[e.step] || (spans[e.step] = { start: secs(e.ts) });
    span.end = secs(e.ts); span.status = e.status;
  };
  on("workflow.step.end", ended);
  on("workflow.step.skip", ended);
  on("workflow.approval.requested", (e) => {
    setStep(e.step, "waiting_approval");
    const span = spans[e.step] || (spans[e.step] = { start: secs(e.ts), end: null });
    span.status = "waiting_approval";
  });
  const runStatus = (status) => {
    root.dataset.status = status;
    const badge = document.querySelector("#run-status .status");
    badge.className = `status s-${status}`;
    badge.textContent = status.replace("_", " ");
  };
  on("workflow.run.end", (e) => { if (e.status) runStatus(e.status); });
  source.addEventListener("done", (event) => { runStatus(JSON.parse(event.data).status); source.close(); });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) return; };
  addEventListener("resize", redraw);
}

// -- chat: one agent run streamed; its thinking in a panel that folds ----------------------------------------------

function chat(form) {
  const conversation = document.getElementById("conversation");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = form.message.value.trim();
    if (!message) return;
    const you = document.createElement("div");
    you.className = "msg you"; you.textContent = message;
    const answer = document.createElement("div");
    answer.className = "msg";
    answer.setAttribute("aria-busy", "true");
    const thinking = document.createElement("details");
    thinking.className = "thinking";
    thinking.innerHTML = "<summary>Thinking</summary><pre></pre>";
    thinking.hidden = true;
    const text = document.createElement("div");
    const footer = document.createElement("small");
    footer.className = "muted";
    answer.append(thinking, text, footer);
    conversation.append(you, answer);
    form.message.value = "";
    const response = await fetch("/chat/stream", {
      method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrf() },
      body: JSON.stringify({ message, agent: form.agent.value, model: form.model.value.trim() || null, show_thinking: true }),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({ detail: response.statusText }));
      text.className = "alert"; text.textContent = problem.detail; answer.removeAttribute("aria-busy");
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const handle = (name, data) => {
      if (name === "thinking") { thinking.hidden = false; thinking.querySelector("pre").textContent += data.text || ""; }
      else if (name === "content") text.textContent += data.text || "";
      else if (name === "tool_call") footer.textContent += ` · called ${data.name || data.tool || "a tool"}`;
      else if (name === "complete") {
        if (!text.textContent && data.output) text.textContent = data.output;
        footer.textContent += ` ${data.model || ""} · $${(data.cost_usd ?? data.cost ?? 0).toFixed(4)}`;
      } else if (name === "error") { text.className = "alert"; text.textContent = data.detail; }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (data) handle(name, JSON.parse(data));
      }
    }
    answer.removeAttribute("aria-busy");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  const run = document.getElementById("run");
  if (run) watchRun(run);
  const form = document.getElementById("chat");
  if (form) chat(form);
});
