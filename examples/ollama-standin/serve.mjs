#!/usr/bin/env node
// A small stand-in for the Ollama model server: the parts of Ollama's HTTP API that Grace
// and Guardian use, with canned answers. Run: node examples/ollama-standin/serve.mjs
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { createModelStore, normaliseName, parseKeepAlive } from './models.mjs';

const VERSION = '0.0.0-standin';

/** Ollama's log style (key=value), so tools that read Ollama's log read this one too. */
function log(msg, level = 'INFO') {
  process.stdout.write(`time=${new Date().toISOString()} level=${level} source=serve.mjs msg=${JSON.stringify(msg)}\n`);
}

/** OLLAMA_HOST as Ollama reads it: `host`, `host:port` or `http://host:port`. */
export function parseHost(value) {
  const raw = (value ?? '').trim() || '127.0.0.1:11434';
  const url = new URL(/^https?:\/\//i.test(raw) ? raw : `http://${raw}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { host, port: Number(url.port || 11434) };
}

function readEnv() {
  const { host, port } = parseHost(process.env.OLLAMA_HOST);
  if (!(host === 'localhost' || host === '::1' || /^127\./.test(host))) {
    throw new Error(`OLLAMA_HOST must be a loopback address for the stand-in, got ${host}`);
  }
  const models = (process.env.STANDIN_MODELS ?? 'llama3.2:1b,qwen2.5:0.5b')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    host,
    port,
    models,
    modelMb: Number(process.env.STANDIN_MODEL_MB ?? 0) || 0,
    startDelayMs: Number(process.env.STANDIN_START_DELAY_MS ?? 0) || 0,
    latencyMs: Number(process.env.STANDIN_LATENCY_MS ?? 20) || 0,
  };
}

/** The canned answer: recognisably a stand-in, and different for different prompts. */
function answer(prompt) {
  const topic = prompt.trim().replace(/\s+/g, ' ').slice(0, 80);
  return `This is a stand-in model answering: "${topic}". A real model would say something clever here.`;
}

/** Ollama's timing fields are nanoseconds. */
function timings(startedNs, loadMs, prompt, response) {
  const total = Number(process.hrtime.bigint() - startedNs);
  return {
    total_duration: total,
    load_duration: loadMs * 1e6,
    prompt_eval_count: Math.max(1, Math.ceil(prompt.length / 4)),
    prompt_eval_duration: Math.round(total * 0.2),
    eval_count: Math.max(1, Math.ceil(response.length / 4)),
    eval_duration: Math.round(total * 0.7),
  };
}

async function readBody(req) {
  const parts = [];
  for await (const chunk of req) parts.push(chunk);
  const text = Buffer.concat(parts).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/**
 * Answers /api/generate and /api/chat. `stream` defaults to true, as in Ollama: then the
 * reply is newline-delimited JSON, one object per word and a final one with done:true.
 */
async function complete(req, res, env, store, kind) {
  const body = await readBody(req);
  if (!body.model) return sendJson(res, 400, { error: 'model is required' });
  if (!store.has(body.model))
    return sendJson(res, 404, { error: `model "${body.model}" not found, try pulling it first` });
  const model = normaliseName(body.model);
  const keepAliveMs = parseKeepAlive(body.keep_alive);
  const created_at = new Date().toISOString();
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const prompt = kind === 'chat' ? String(messages.at(-1)?.content ?? '') : String(body.prompt ?? '');
  const empty = kind === 'chat' ? messages.length === 0 : prompt === '';
  // An empty request only loads the model; with keep_alive 0 it unloads it (Ollama's documented trick).
  if (empty) {
    const done_reason = keepAliveMs === 0 ? 'unload' : 'load';
    if (keepAliveMs === 0) store.unload(model);
    else store.load(model, keepAliveMs);
    const reply = kind === 'chat' ? { message: { role: 'assistant', content: '' } } : { response: '' };
    return sendJson(res, 200, { model, created_at, ...reply, done: true, done_reason });
  }
  const started = process.hrtime.bigint();
  const loadMs = store.load(model, keepAliveMs === 0 ? 0 : keepAliveMs);
  await delay(env.latencyMs);
  const text = answer(prompt);
  if (keepAliveMs === 0) store.unload(model);
  const wrap = (content) => (kind === 'chat' ? { message: { role: 'assistant', content } } : { response: content });
  const final = {
    model,
    created_at,
    ...wrap(body.stream === false ? text : ''),
    done: true,
    done_reason: 'stop',
    ...timings(started, loadMs, prompt, text),
  };
  if (body.stream === false) return sendJson(res, 200, final);
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  for (const word of text.split(/(?<= )/))
    res.write(JSON.stringify({ model, created_at, ...wrap(word), done: false }) + '\n');
  res.end(JSON.stringify(final) + '\n');
}

/** @param {ReturnType<typeof readEnv>} env @param {ReturnType<typeof createModelStore>} store */
function createServer(env, store) {
  return http.createServer(async (req, res) => {
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`;
    try {
      if (route === 'GET /' || route === 'HEAD /') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return res.end('Ollama is running');
      }
      if (route === 'GET /api/version') return sendJson(res, 200, { version: VERSION });
      if (route === 'GET /api/tags') return sendJson(res, 200, { models: store.tags() });
      if (route === 'GET /api/ps') return sendJson(res, 200, { models: store.ps() });
      if (route === 'POST /api/generate') return await complete(req, res, env, store, 'generate');
      if (route === 'POST /api/chat') return await complete(req, res, env, store, 'chat');
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found');
    } catch (err) {
      // Bad JSON or a bad keep_alive: Ollama answers 400 with {error}.
      if (!res.headersSent) sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
    }
  });
}

async function main() {
  let env;
  try {
    env = readEnv();
  } catch (err) {
    log(err instanceof Error ? err.message : String(err), 'ERROR');
    process.exit(2);
  }
  const store = createModelStore({ models: env.models, modelMb: env.modelMb, log });
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  // Imitates the time a real model server takes before it accepts connections.
  if (env.startDelayMs) await delay(env.startDelayMs);
  const server = createServer(env, store);
  server.on('error', (err) => {
    const e = /** @type {NodeJS.ErrnoException} */ (err);
    const why = e.code === 'EADDRINUSE' ? 'bind: address already in use' : e.message;
    process.stderr.write(`Error: listen tcp ${env.host}:${env.port}: ${why}\n`);
    process.exit(1);
  });
  server.listen(env.port, env.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : env.port;
    log(`Listening on ${env.host}:${port} (version ${VERSION})`);
    setInterval(() => store.sweep(), 1000).unref();
  });
}

await main();
