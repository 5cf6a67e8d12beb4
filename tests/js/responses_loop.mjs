// A real client against `thinkwire serve`: the Vercel AI SDK's OpenAI Responses provider
// (`@ai-sdk/openai`, `.responses(...)`) running a `get_weather` tool loop.
//
//   node responses_loop.mjs --base-url http://127.0.0.1:PORT --log requests.jsonl
//                           [--stream] [--store false] [--prompt TEXT] [--timeout-ms N]
//
// Every HTTP exchange goes through a logging `fetch`; it appends JSON lines to the --log file:
//   {"event":"request","seq":N,"method","url","body":<parsed JSON>,"raw":<body text>}
//   {"event":"response","seq":N,"status","headers":{...}}
//   {"event":"response_body","seq":N,"status","text":<the body, byte for byte>}  (non-streamed)
//   {"event":"sse","seq":N,"status","text":<the raw SSE text>}                  (streamed)
//   {"event":"fetch_error","seq":N,"error":...}   (also: any host but loopback is refused)
// and prints one JSON summary on stdout: ok, text, reasoningText, finishReason, steps (each
// with its text, reasoning, tool calls and results, response id), toolCalls, errors.
// Exits 0 when the loop ran without an error, 1 otherwise (the summary is printed either way).

import { appendFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const { values: args } = parseArgs({
  options: {
    "base-url": { type: "string" },
    log: { type: "string" },
    stream: { type: "boolean", default: false },
    store: { type: "string" },
    prompt: { type: "string", default: "What is the weather in Oslo?" },
    "timeout-ms": { type: "string", default: "60000" },
  },
});
if (!args["base-url"] || !args.log) {
  console.error("usage: node responses_loop.mjs --base-url URL --log FILE [--stream] [--store true|false]");
  process.exit(2);
}
const logPath = args.log;
writeFileSync(logPath, "");
const log = (entry) => appendFileSync(logPath, JSON.stringify(entry) + "\n");

let seq = 0;
const pending = [];

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

async function loggingFetch(input, init = {}) {
  const n = ++seq;
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (!LOOPBACK.has(new URL(url).hostname)) {
    // Tests talk to a local server only: any other host is refused, never reached.
    log({ event: "fetch_error", seq: n, url, error: "refused: not a loopback host" });
    throw new Error(`refused to fetch ${url}: not a loopback host`);
  }
  const raw = typeof init.body === "string" ? init.body : init.body == null ? null : String(init.body);
  let body = null;
  try {
    body = raw == null ? null : JSON.parse(raw);
  } catch {
    body = null;
  }
  log({ event: "request", seq: n, method: init.method ?? "GET", url, body, raw });
  let response;
  try {
    response = await fetch(input, init);
  } catch (error) {
    log({ event: "fetch_error", seq: n, error: String(error) });
    throw error;
  }
  const headers = Object.fromEntries(response.headers.entries());
  log({ event: "response", seq: n, status: response.status, headers });
  const streamed = (headers["content-type"] ?? "").includes("text/event-stream");
  if (response.body == null) {
    log({ event: streamed ? "sse" : "response_body", seq: n, status: response.status, text: "" });
    return response;
  }
  // Tee the body: one branch goes to the SDK untouched, the other is read to the log.
  const [mine, theirs] = response.body.tee();
  pending.push(
    new Response(mine)
      .text()
      .then((text) => log({ event: streamed ? "sse" : "response_body", seq: n, status: response.status, text }))
      .catch((error) => log({ event: "body_error", seq: n, error: String(error) })),
  );
  return new Response(theirs, { status: response.status, statusText: response.statusText, headers: response.headers });
}

const openai = createOpenAI({ baseURL: `${args["base-url"]}/v1`, apiKey: "unused", fetch: loggingFetch });
const model = openai.responses("local");

const toolResults = [];
const getWeather = tool({
  description: "The weather in a city.",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    const result = { city, weather: "sunny", temperature_c: 21 };
    toolResults.push(result);
    return result;
  },
});

const providerOptions = {};
if (args.store !== undefined) {
  providerOptions.openai = { store: args.store === "true" };
}

const settings = {
  model,
  prompt: args.prompt,
  tools: { get_weather: getWeather },
  stopWhen: stepCountIs(4),
  maxRetries: 0,
  abortSignal: AbortSignal.timeout(Number(args["timeout-ms"])),
  ...(Object.keys(providerOptions).length > 0 && { providerOptions }),
};

function describeError(error) {
  if (error == null) return null;
  const out = { name: error.name, message: String(error.message ?? error) };
  for (const key of ["statusCode", "responseBody", "url", "isRetryable"]) {
    if (error[key] !== undefined) out[key] = error[key];
  }
  if (error.cause != null && error.cause !== error) out.cause = describeError(error.cause);
  if (Array.isArray(error.errors)) out.errors = error.errors.map(describeError);
  return out;
}

function describeStep(step, i) {
  return {
    index: i,
    finishReason: step.finishReason,
    text: step.text,
    reasoningText: step.reasoningText ?? null,
    reasoning: (step.reasoning ?? []).map((r) => ({ text: r.text, providerMetadata: r.providerMetadata ?? null })),
    toolCalls: (step.toolCalls ?? []).map((c) => ({ toolCallId: c.toolCallId, toolName: c.toolName, input: c.input })),
    toolResults: (step.toolResults ?? []).map((r) => ({ toolCallId: r.toolCallId, toolName: r.toolName, output: r.output })),
    responseId: step.response?.id ?? null,
    providerMetadata: step.providerMetadata ?? null,
    warnings: step.warnings ?? [],
  };
}

const summary = { mode: args.stream ? "stream" : "generate", store: args.store ?? null, ok: false, errors: [] };
try {
  let steps;
  if (args.stream) {
    const result = streamText({ ...settings, onError: ({ error }) => summary.errors.push(describeError(error)) });
    // Drain the full stream (tool calls are executed as it goes), then read the totals.
    for await (const part of result.fullStream) {
      if (part.type === "error") summary.errors.push(describeError(part.error));
    }
    steps = await result.steps;
    summary.text = await result.text;
    summary.reasoningText = (await result.reasoningText) ?? null;
    summary.finishReason = await result.finishReason;
  } else {
    const result = await generateText(settings);
    steps = result.steps;
    summary.text = result.text;
    summary.reasoningText = result.reasoningText ?? null;
    summary.finishReason = result.finishReason;
  }
  summary.steps = steps.map(describeStep);
  summary.toolCalls = steps.flatMap((s) => s.toolCalls ?? []).map((c) => ({ toolName: c.toolName, input: c.input }));
  summary.ok = summary.errors.length === 0;
} catch (error) {
  summary.errors.push(describeError(error));
}
summary.toolResults = toolResults;
await Promise.allSettled(pending);
summary.requests = seq;
process.stdout.write(JSON.stringify(summary) + "\n");
process.exitCode = summary.ok ? 0 : 1;
