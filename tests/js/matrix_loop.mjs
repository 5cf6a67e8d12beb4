// The Vercel AI SDK in the client matrix (tests/server/test_server_client_matrix.py): one user
// turn with two tools, through one of its providers, with the SDK's own tool loop.
//
//   node matrix_loop.mjs --provider openai-compatible|openai|anthropic --base-url URL/v1
//                        --model NAME [--stream] [--timeout-ms N]
//
// Prints one JSON summary on stdout: ok, text (the final answer), toolCalls (the tools the SDK
// ran, in order), statuses (every HTTP status it got), error. Only loopback hosts are fetched.
// Exits 0 when the loop ran without an error, 1 otherwise (the summary is printed either way).

import { parseArgs } from "node:util";

import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const { values: args } = parseArgs({
  options: {
    provider: { type: "string" },
    "base-url": { type: "string" },
    model: { type: "string" },
    stream: { type: "boolean", default: false },
    prompt: { type: "string", default: "What is the weather in Oslo?" },
    "timeout-ms": { type: "string", default: "60000" },
  },
});
if (!args.provider || !args["base-url"] || !args.model) {
  console.error("usage: node matrix_loop.mjs --provider P --base-url URL --model NAME [--stream]");
  process.exit(2);
}

const statuses = [];
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
async function loopbackFetch(input, init) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (!LOOPBACK.has(new URL(url).hostname)) throw new Error(`refused to fetch ${url}: not loopback`);
  const response = await fetch(input, init);
  statuses.push(response.status);
  return response;
}

const baseURL = args["base-url"];
const common = { baseURL, apiKey: "unused", fetch: loopbackFetch };
let model;
let providerOptions = {};
if (args.provider === "openai-compatible") {
  model = createOpenAICompatible({ name: "thinkwire", ...common }).chatModel(args.model);
} else if (args.provider === "openai") {
  model = createOpenAI(common).responses(args.model);
  providerOptions = { openai: { store: false, include: ["reasoning.encrypted_content"] } };
} else if (args.provider === "anthropic") {
  model = createAnthropic(common)(args.model);
  providerOptions = { anthropic: { thinking: { type: "enabled", budgetTokens: 1024 } } };
} else {
  console.error(`unknown provider ${args.provider}`);
  process.exit(2);
}

const ran = [];
const make = (name, what) =>
  tool({
    description: what,
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      ran.push(name);
      return name === "get_weather" ? `sunny, 21 C in ${city}` : `14:05 in ${city}`;
    },
  });
const tools = {
  get_weather: make("get_weather", "The weather in a city."),
  get_time: make("get_time", "The local time in a city."),
};

const options = {
  model,
  tools,
  prompt: args.prompt,
  stopWhen: stepCountIs(6),
  providerOptions,
  maxRetries: 0,
  abortSignal: AbortSignal.timeout(Number(args["timeout-ms"])),
};
const summary = { ok: false, text: "", toolCalls: ran, statuses, error: null };
try {
  if (args.stream) {
    const result = streamText({ ...options, onError: ({ error }) => { summary.error = String(error); } });
    for await (const _ of result.fullStream) {
      // consumed as an app would; the text is read at the end
    }
    summary.text = await result.text;
  } else {
    summary.text = (await generateText(options)).text;
  }
  summary.ok = summary.error === null;
} catch (error) {
  summary.error = String(error?.stack ?? error);
}
console.log(JSON.stringify(summary));
process.exit(summary.ok ? 0 : 1);
