#!/usr/bin/env node
// Writes src/types.ts from parac serve's OpenAPI document: a type for every route's request (path parameters,
// query, body) and answer, and `Operations`, the table the client is typed by. The schemas are the server's own
// (its tools' argument and result models), so the types follow the server; tests/http/test_sdk_typescript.py
// checks that the committed file is what this script makes from the live server's /openapi.json.
//
//   node scripts/generate-types.mjs http://127.0.0.1:8765/openapi.json --out src/types.ts
//   node scripts/generate-types.mjs openapi.json            (prints the file)
import { readFile, writeFile } from "node:fs/promises";

const API = "/api/v1";

async function load(source) {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source}: ${response.status} ${response.statusText}`);
    return response.json();
  }
  return JSON.parse(await readFile(source, "utf8"));
}

const pascal = (text) => text.replace(/(^|[_\-\s]+)([a-zA-Z0-9])/g, (_, __, c) => c.toUpperCase());
const literal = (value) => JSON.stringify(value);
const key = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : literal(name));

/** Named types (a schema's `$defs`, the routes' top-level types), each declared once; a type the same as one
 * declared before (the listings' queries: objects, not one-line types) is declared as an alias of it. */
class Declarations {
  constructor() {
    this.types = new Map(); // name -> { source, text }
    this.shapes = new Map(); // a declaration with its name left out -> the name it was declared under
  }

  add(name, source, text) {
    const known = this.types.get(name);
    if (known && known.source !== source) {
      throw new Error(`two different schemas are named ${name}; rename one on the server`);
    }
    const shape = text.replace(`export type ${name} =`, "export type =");
    const first = (text.includes("{\n") && this.shapes.get(shape)) || name;
    this.shapes.set(shape, first);
    this.types.set(name, { source, text: first === name ? text : `export type ${name} = ${first};\n` });
    return name;
  }
}

function comment(schema, indent) {
  const text = schema && typeof schema.description === "string" ? schema.description : "";
  return text ? `${indent}/** ${text.replace(/\*\//g, "*\\/").replace(/\s*\n\s*/g, " ")} */\n` : "";
}

/** The TypeScript type of a JSON Schema (as pydantic writes them), its `$defs` declared in `names`. */
function typeOf(schema, names, indent = "") {
  if (schema === true || schema === undefined || schema === null) return "unknown";
  if (schema === false) return "never";
  if (schema.$defs) {
    for (const [name, definition] of Object.entries(schema.$defs)) {
      names.add(name, JSON.stringify(definition), declaration(name, definition, names));
    }
  }
  if (schema.$ref) {
    const match = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    if (!match) throw new Error(`unsupported $ref ${schema.$ref}`);
    return match[1];
  }
  if ("const" in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map(literal).join(" | ");
  const union = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(union)) return union.map((s) => typeOf(s, names, indent)).join(" | ");
  if (Array.isArray(schema.type)) {
    return schema.type.map((t) => typeOf({ ...schema, type: t }, names, indent)).join(" | ");
  }
  switch (schema.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = typeOf(schema.items, names, indent);
      return /^[\w$.]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
    }
    case "object":
      return objectType(schema, names, indent);
    default:
      return schema.properties ? objectType(schema, names, indent) : "unknown";
  }
}

function objectType(schema, names, indent) {
  const properties = Object.entries(schema.properties ?? {});
  const extra = schema.additionalProperties;
  if (properties.length === 0) {
    return `Record<string, ${extra && extra !== true ? typeOf(extra, names, indent) : "unknown"}>`;
  }
  const required = new Set(schema.required ?? []);
  const inner = indent + "  ";
  const lines = properties.map(([name, property]) =>
    `${comment(property, inner)}${inner}${key(name)}${required.has(name) ? "" : "?"}: ${typeOf(property, names, inner)};`);
  return `{\n${lines.join("\n")}\n${indent}}`;
}

function declaration(name, schema, names) {
  return `${comment(schema, "")}export type ${name} = ${typeOf(schema, names)};\n`;
}

/** The first JSON (or problem) content's schema of a response, or undefined. */
function jsonSchema(content) {
  if (!content) return undefined;
  const json = content["application/json"];
  return json ? json.schema ?? {} : undefined;
}

function generate(doc) {
  const names = new Declarations();
  const table = [];
  const routes = [];
  for (const [fullPath, methods] of Object.entries(doc.paths)) {
    if (!fullPath.startsWith(API)) continue;
    const path = fullPath.slice(API.length);
    for (const [method, op] of Object.entries(methods)) {
      const id = op.operationId;
      const base = pascal(id);
      const parameters = op.parameters ?? [];
      const pathParams = parameters.filter((p) => p.in === "path").map((p) => `${key(p.name)}: string`);
      const query = parameters.filter((p) => p.in === "query");
      let queryType = "never";
      if (query.length) {
        queryType = names.add(`${base}Query`, "", declaration(`${base}Query`, {
          type: "object",
          properties: Object.fromEntries(query.map((p) => [p.name, p.schema])),
          required: query.filter((p) => p.required).map((p) => p.name),
        }, names));
      }
      let bodyType = "never";
      const body = jsonSchema(op.requestBody?.content);
      if (body !== undefined) {
        bodyType = names.add(`${base}Body`, "", declaration(`${base}Body`, { ...body, title: undefined }, names));
      }
      const problem = op.responses?.default?.content?.["application/problem+json"]?.schema;
      if (problem) names.add("Problem", JSON.stringify(problem), declaration("Problem", problem, names));
      const [status, ok] = Object.entries(op.responses ?? {}).find(([code]) => /^2/.test(code)) ?? ["200", {}];
      const content = ok.content ?? {};
      let answer = "unknown";
      const schema = jsonSchema(content);
      if (schema !== undefined) {
        const title = typeof schema.title === "string" && /^[A-Z]\w*$/.test(schema.title) ? schema.title : `${base}Response`;
        answer = names.add(title, JSON.stringify(schema), declaration(title, schema, names));
      } else if (content["text/plain"]) {
        answer = "string";
      }
      const streams = Boolean(content["text/event-stream"]);
      routes.push(`  ${id}: { method: ${literal(method.toUpperCase())}, path: ${literal(path)} },`);
      table.push([id, [
        `method: ${literal(method.toUpperCase())};`,
        `path: ${literal(path)};`,
        `pathParams: ${pathParams.length ? `{ ${pathParams.join("; ")} }` : "never"};`,
        `query: ${queryType};`,
        `body: ${bodyType};`,
        `status: ${Number(status)};`,
        `response: ${answer};`,
        `streams: ${streams};`,
        ...(op["x-parac-role"] ? [`role: ${literal(op["x-parac-role"])};`] : []),
      ], op.summary]);
    }
  }
  const declared = [...names.types.keys()].sort().map((name) => names.types.get(name).text);
  const operations = table.map(([id, fields, summary]) =>
    `${summary ? `  /** ${summary} */\n` : ""}  ${id}: {\n${fields.map((f) => `    ${f}`).join("\n")}\n  };`);
  return [
    "// Generated by scripts/generate-types.mjs from parac serve's /openapi.json: do not edit by hand",
    "// (npm run generate -- http://127.0.0.1:8765/openapi.json).",
    "",
    ...declared,
    "/** Every route of /api/v1: its method, path (under /api/v1), parameters, body and answer. */",
    "export interface Operations {",
    ...operations,
    "}",
    "",
    "export type OperationId = keyof Operations;",
    "",
    "/** Each route's method and path (under /api/v1), for the client to send. */",
    "export const ROUTES = {",
    ...routes,
    "} as const satisfies { [K in OperationId]: { method: Operations[K][\"method\"]; path: Operations[K][\"path\"] } };",
    "",
  ].join("\n");
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf("--out");
  const out = at >= 0 ? args.splice(at, 2)[1] : undefined;
  if (args.length !== 1) {
    console.error("usage: generate-types.mjs OPENAPI_JSON_OR_URL [--out FILE]");
    process.exit(2);
  }
  const text = generate(await load(args[0]));
  if (out) await writeFile(out, text);
  else process.stdout.write(text);
}

await main();
