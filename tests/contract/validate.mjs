#!/usr/bin/env node
/*
 * The contract test: checks every HTTP exchange the tests recorded
 * (tests/harness.c appends one JSON line per request to the file named by
 * TRADESTORE_EXCHANGES) against openapi.yaml.
 *
 * For each exchange: the path is percent-decoded and matched to a path
 * template of the spec (a parameter whose schema admits '/' may hold it, so
 * /positions/BTC/USDT is /positions/{symbol}), the method to an operation;
 * the status must be documented for that operation, the content type must be
 * one the response documents, and the body must validate against its schema
 * (OpenAPI 3.1 schemas are JSON Schema 2020-12: Ajv2020). A request that got
 * a 2xx must itself have been valid: its body against the request schema, its
 * query parameters and path parameters against theirs. A path no template
 * matches must be answered 404 with a problem; a known path with a method it
 * lacks 405 with a problem and Allow (components/responses/MethodNotAllowed).
 *
 * Every operation of the spec must have been exercised with a 2xx at least
 * once, unless tests/contract/unexercised.txt lists it with a reason.
 *
 * Usage: node validate.mjs [--verbose] [--no-coverage] [--backend B] [--spec FILE] [--allow FILE] EXCHANGES.jsonl
 * (--no-coverage skips the "every operation exercised" rule: selftest.mjs).
 * --backend sqlite|postgresql checks only the exchanges made on that backend
 * (the harness records each one's "backend"; none recorded means sqlite),
 * with coverage against the allow list unexercised-B.txt when it exists
 * (what API.md answers otherwise on B, e.g. 501 for /admin/backup on
 * PostgreSQL), else unexercised.txt.
 * Exit status: 0 when everything passed, 1 on any failure, 2 on bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMA_BASE = 'https://tradestore.invalid/schemas/';
const MAX_FAILURES_SHOWN = 50;

function parseArgs(argv) {
  const opt = {
    spec: resolve(here, '../../openapi.yaml'),
    allow: resolve(here, 'unexercised.txt'),
    verbose: false,
    coverage: true,
    exchanges: process.env.TRADESTORE_EXCHANGES || null,
    backend: null,
  };
  let allowGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--verbose' || a === '-v') opt.verbose = true;
    else if (a === '--no-coverage') opt.coverage = false;
    else if (a === '--spec') opt.spec = argv[++i];
    else if (a === '--allow') { opt.allow = argv[++i]; allowGiven = true; }
    else if (a === '--backend') opt.backend = argv[++i];
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else opt.exchanges = a;
  }
  if (!opt.exchanges) usage('no exchanges file given (argument or TRADESTORE_EXCHANGES)');
  if (opt.backend !== null && !['sqlite', 'postgresql'].includes(opt.backend))
    usage(`--backend ${opt.backend}: sqlite or postgresql`);
  if (opt.backend !== null && !allowGiven && existsSync(resolve(here, `unexercised-${opt.backend}.txt`)))
    opt.allow = resolve(here, `unexercised-${opt.backend}.txt`);
  return opt;
}

function usage(msg) {
  console.error(`validate.mjs: ${msg}`);
  console.error('usage: node validate.mjs [--verbose] [--no-coverage] [--backend B] [--spec FILE] [--allow FILE] EXCHANGES.jsonl');
  process.exit(2);
}

/* ---- the spec ---- */

/* Follows a local $ref ('#/components/responses/X') to the object it names. */
function deref(spec, obj) {
  const seen = new Set();
  while (obj && typeof obj === 'object' && typeof obj.$ref === 'string') {
    if (seen.has(obj.$ref)) throw new Error(`$ref loop at ${obj.$ref}`);
    seen.add(obj.$ref);
    if (!obj.$ref.startsWith('#/')) throw new Error(`non-local $ref ${obj.$ref}`);
    obj = obj.$ref
      .slice(2)
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((o, k) => (o == null ? undefined : o[k]), spec);
    if (obj === undefined) throw new Error(`unresolved $ref ${[...seen].pop()}`);
  }
  return obj;
}

/* Copies a schema with its '#/components/schemas/X...' refs turned into
 * absolute ones, so each component can be registered with Ajv by itself. */
function absolutize(schema) {
  if (Array.isArray(schema)) return schema.map(absolutize);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      const [name, ...rest] = v.slice('#/components/schemas/'.length).split('/');
      out.$ref = SCHEMA_BASE + name + (rest.length ? '#/' + rest.join('/') : '');
    } else if (k === '$ref' && typeof v === 'string' && v.startsWith('#')) {
      throw new Error(`schema $ref outside components/schemas: ${v}`);
    } else {
      out[k] = absolutize(v);
    }
  }
  return out;
}

function makeAjv(spec, coerceTypes) {
  const ajv = new Ajv2020({
    strict: true,
    /* the spec's style: union types, `required` beside anyOf/type unions */
    strictTypes: false,
    strictRequired: false,
    allowUnionTypes: true,
    allErrors: true,
    coerceTypes,
  });
  addFormats(ajv);
  /* OpenAPI's own schema keywords (3.1 Schema Object) */
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  for (const [name, schema] of Object.entries(spec.components?.schemas ?? {}))
    ajv.addSchema({ ...absolutize(schema), $id: SCHEMA_BASE + name });
  return ajv;
}

/* One compiled validator per distinct schema object. */
function compiler(ajv) {
  const cache = new Map();
  return (schema) => {
    if (!cache.has(schema)) cache.set(schema, ajv.compile(absolutize(schema)));
    return cache.get(schema);
  };
}

function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/* The spec's operations and, per path template, a matcher. A path parameter
 * whose schema accepts 'a/b' may span segments (a symbol like BTC/USDT). */
function loadOperations(spec, compile) {
  const templates = [];
  for (const [template, rawItem] of Object.entries(spec.paths ?? {})) {
    const item = deref(spec, rawItem);
    const shared = (item.parameters ?? []).map((p) => deref(spec, p));
    const ops = {};
    for (const m of METHODS) {
      if (!item[m]) continue;
      const own = (item[m].parameters ?? []).map((p) => deref(spec, p));
      const params = [...shared.filter((p) => !own.some((o) => o.name === p.name && o.in === p.in)), ...own];
      ops[m.toUpperCase()] = { template, method: m.toUpperCase(), op: item[m], params };
    }
    const pathParams = new Map();
    for (const p of [...shared, ...Object.values(ops).flatMap((o) => o.params)])
      if (p.in === 'path') pathParams.set(p.name, p);
    const names = [];
    let regex = '';
    let literal = 0;
    for (const part of template.split(/(\{[^}]+\})/)) {
      const m = /^\{([^}]+)\}$/.exec(part);
      if (!m) {
        regex += escapeRegex(part);
        literal += part.length;
        continue;
      }
      const p = pathParams.get(m[1]);
      if (!p) throw new Error(`${template}: path parameter {${m[1]}} is not declared`);
      const slash = p.schema ? compile(p.schema)('a/b') : false;
      names.push(m[1]);
      regex += slash ? '(.+)' : '([^/]+)';
    }
    templates.push({ template, re: new RegExp(`^${regex}$`), names, ops, pathParams, literal });
  }
  /* Concrete paths before templated ones (OpenAPI's rule), then the longer literal part. */
  templates.sort((a, b) => a.names.length - b.names.length || b.literal - a.literal);
  return templates;
}

/* ---- matching ---- */

function decodePath(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; /* a malformed escape stays as sent, as the server keeps it */
  }
}

/* The operation an exchange addressed: among the templates the path matches,
 * the first that has the method (the server routes the same way); else the
 * first match with no operation (a 405); else nothing (a 404 path). */
function matchExchange(templates, method, path) {
  const decoded = decodePath(path);
  let first = null;
  for (const t of templates) {
    const m = t.re.exec(decoded);
    if (!m) continue;
    const params = Object.fromEntries(t.names.map((n, i) => [n, m[i + 1]]));
    /* HEAD is GET without the body (RFC 9110), as the spec's info says. */
    const op = t.ops[method] ?? (method === 'HEAD' ? t.ops.GET : undefined);
    if (op) return { t, op, params };
    first ??= { t, op: null, params };
  }
  return first;
}

/* ---- checks ---- */

function mediaType(ct) {
  if (!ct) return null;
  const [essence, ...rest] = ct.split(';');
  const params = {};
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim().replace(/^"|"$/g, '');
  }
  return { essence: essence.trim().toLowerCase(), params };
}

/* The documented media type key that the actual content type satisfies: same
 * type/subtype, and every parameter the key names with the same value. */
function pickMediaType(content, actual) {
  const a = mediaType(actual);
  if (!a) return null;
  for (const key of Object.keys(content)) {
    const k = mediaType(key);
    if (k.essence !== a.essence) continue;
    if (Object.entries(k.params).every(([n, v]) => a.params[n]?.toLowerCase() === v.toLowerCase()))
      return key;
  }
  return null;
}

function isJson(key) {
  const e = mediaType(key).essence;
  return e === 'application/json' || e.endsWith('+json');
}

function ajvErrors(validate) {
  return (validate.errors ?? [])
    .slice(0, 8)
    .map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`)
    .join('; ');
}

/* Checks a body against a documented content map; returns a problem or null. */
function checkBody(what, content, ctype, text, compile) {
  const key = pickMediaType(content, ctype);
  if (!key)
    return `${what} content type ${JSON.stringify(ctype)} is not documented (documented: ${Object.keys(content).join(', ')})`;
  const schema = content[key].schema;
  if (!schema) return null;
  let value = text;
  if (isJson(key)) {
    try {
      value = JSON.parse(text);
    } catch (e) {
      return `${what} is not JSON (${e.message})`;
    }
  }
  const validate = compile(schema);
  if (!validate(value)) return `${what} does not match the schema for ${key}: ${ajvErrors(validate)}`;
  return null;
}

/* A 2xx says the request was valid: its query and path parameters and its
 * body must then be what the spec documents. */
function checkRequest(spec, x, match, compile, compileQ, problems) {
  const { op, params } = match;
  for (const [name, value] of Object.entries(params)) {
    const p = op.params.find((q) => q.in === 'path' && q.name === name);
    const v = p?.schema && compile(p.schema);
    if (v && !v(decodePath(value))) problems.push(`path parameter ${name}=${JSON.stringify(value)} was accepted but does not match its schema: ${ajvErrors(v)}`);
  }
  const query = new URLSearchParams(x.query ?? '');
  for (const [name, value] of query) {
    const p = op.params.find((q) => q.in === 'query' && q.name === name);
    if (!p) {
      problems.push(`query parameter ${name} was accepted but is not documented`);
      continue;
    }
    if (value === '' && p.allowEmptyValue) continue; /* documented as "same as absent" */
    const v = p.schema && compileQ({ type: 'object', properties: { v: p.schema } });
    if (v && !v({ v: value })) problems.push(`query parameter ${name}=${JSON.stringify(value)} was accepted but does not match its schema: ${ajvErrors(v)}`);
  }
  for (const p of op.params)
    if (p.in === 'query' && p.required && !query.has(p.name)) problems.push(`required query parameter ${p.name} was missing, yet the request was accepted`);
  const sent = x.request_body != null && x.request_body !== '';
  const rb = op.op.requestBody ? deref(spec, op.op.requestBody) : null;
  if (!rb) {
    if (sent) problems.push('a request body was accepted by an operation that documents none');
    return;
  }
  if (!sent) {
    if (rb.required) problems.push('the request had no body, yet the operation requires one and answered 2xx');
    return;
  }
  if (x.request_body_truncated) return;
  const p = checkBody('request body', rb.content ?? {}, x.request_content_type, x.request_body, compile);
  if (p) problems.push(p);
}

function checkResponse(spec, x, responses, compile, problems) {
  const status = String(x.status);
  const raw = responses[status] ?? responses[`${status[0]}XX`] ?? responses.default;
  if (!raw) {
    problems.push(`status ${status} is not documented (documented: ${Object.keys(responses).join(', ')})`);
    return null;
  }
  const resp = deref(spec, raw);
  const body = x.body ?? '';
  if (x.body_invalid_utf8) problems.push('the response body is not UTF-8');
  for (const [name, h] of Object.entries(resp.headers ?? {})) {
    if (name.toLowerCase() === 'allow' && deref(spec, h) && !x.allow) problems.push('the response has no Allow header');
  }
  if (!resp.content || Object.keys(resp.content).length === 0) {
    if (body !== '') problems.push(`status ${status} documents no body, but one was sent (${body.length} bytes)`);
    return raw;
  }
  if (x.method === 'HEAD') return raw; /* documented bodies are not sent to HEAD */
  const p = checkBody('response body', resp.content, x.content_type, body, compile);
  if (p) problems.push(p);
  return raw;
}

/* ---- the run ---- */

function loadAllowList(file, ops) {
  const allowed = new Map();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  text.split('\n').forEach((line, i) => {
    const s = line.replace(/#.*/, '').trim();
    if (!s) return;
    const m = /^([A-Z]+)\s+(\S+)\s+(.+)$/.exec(s);
    if (!m) throw new Error(`${file}:${i + 1}: expected "METHOD /path reason"`);
    const key = `${m[1]} ${m[2]}`;
    if (!ops.has(key)) throw new Error(`${file}:${i + 1}: ${key} is not an operation of the spec`);
    allowed.set(key, m[3]);
  });
  return allowed;
}

function readExchanges(file) {
  const out = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not a JSON line (${e.message})`);
    }
  });
  return out;
}

function main() {
  const opt = parseArgs(process.argv.slice(2));
  const spec = YAML.parse(readFileSync(opt.spec, 'utf8'));
  const compile = compiler(makeAjv(spec, false));
  const compileQ = compiler(makeAjv(spec, true));
  const templates = loadOperations(spec, compile);
  const ops = new Map(); /* "METHOD /template" -> { ok2xx, statuses } */
  for (const t of templates)
    for (const o of Object.values(t.ops)) ops.set(`${o.method} ${t.template}`, { ok2xx: 0, statuses: new Map() });
  const allowed = loadAllowList(opt.allow, ops);
  const exchanges = readExchanges(opt.exchanges)
    .filter((x) => opt.backend === null || (x.backend ?? 'sqlite') === opt.backend);
  const notFound = deref(spec, spec.components?.responses?.NotFound);
  const notAllowed = deref(spec, spec.components?.responses?.MethodNotAllowed);
  const failures = [];
  let unmatched = 0;
  let methodNotAllowed = 0;

  for (const x of exchanges) {
    const problems = [];
    const method = String(x.method).toUpperCase();
    const match = matchExchange(templates, method, x.path);
    let where;
    if (!match) {
      /* A path the spec does not have: the only answer it allows is 404. */
      where = `${method} (no path of the spec)`;
      unmatched++;
      if (x.status !== 404) problems.push(`status ${x.status} for a path the spec does not have (only 404 fits)`);
      else checkResponse(spec, x, { 404: notFound }, compile, problems);
    } else if (!match.op) {
      where = `${method} ${match.t.template} (method not in the spec)`;
      methodNotAllowed++;
      if (x.status !== 405) problems.push(`status ${x.status} for a method the path does not have (only 405 fits)`);
      else checkResponse(spec, x, { 405: notAllowed }, compile, problems);
    } else {
      const key = `${match.op.method} ${match.t.template}`;
      where = key;
      const rec = ops.get(key);
      rec.statuses.set(x.status, (rec.statuses.get(x.status) ?? 0) + 1);
      const responses = match.op.op.responses ?? {};
      checkResponse(spec, x, responses, compile, problems);
      if (x.status >= 200 && x.status < 300) {
        rec.ok2xx++;
        checkRequest(spec, x, match, compile, compileQ, problems);
      }
    }
    if (problems.length)
      failures.push({ x, where, problems });
  }

  const unexercised = opt.coverage ? [...ops].filter(([, r]) => r.ok2xx === 0).map(([k]) => k) : [];
  const missing = unexercised.filter((k) => !allowed.has(k));
  const staleAllow = opt.coverage ? [...allowed.keys()].filter((k) => ops.get(k).ok2xx > 0) : [];

  const on = opt.backend === null ? '' : ` made on ${opt.backend}`;
  console.log(`contract: ${exchanges.length} exchanges${on} validated against ${opt.spec}`);
  console.log(`contract: ${ops.size} operations; ${unmatched} requests to paths the spec lacks (404), ${methodNotAllowed} with a method the path lacks (405)`);
  console.log(`contract: ${failures.length} failures`);
  for (const f of failures.slice(0, MAX_FAILURES_SHOWN)) {
    const { x } = f;
    console.log(`  FAIL ${x.method} ${x.path}${x.query ? '?' + x.query : ''} -> ${x.status} ${x.content_type ?? ''}  [${f.where}; ${x.test ?? '?'}:${x.tcase ?? '?'}]`);
    for (const p of f.problems) console.log(`       ${p}`);
    if (opt.verbose) {
      if (x.request_body) console.log(`       request: ${x.request_body.slice(0, 400)}`);
      console.log(`       response: ${(x.body ?? '').slice(0, 400)}`);
    }
  }
  if (failures.length > MAX_FAILURES_SHOWN) console.log(`  ... and ${failures.length - MAX_FAILURES_SHOWN} more`);
  if (!opt.coverage) console.log('contract: coverage not checked (--no-coverage)');
  else console.log(`contract: operations never exercised with a 2xx: ${unexercised.length ? '' : 'none'}`);
  for (const k of unexercised)
    console.log(`  ${k}${allowed.has(k) ? `  (allowed: ${allowed.get(k)})` : `  (NOT in ${basename(opt.allow)})`}`);
  for (const k of staleAllow) console.log(`contract: FAIL ${k} is in ${basename(opt.allow)} but was exercised: remove the line`);
  if (opt.verbose) {
    console.log('contract: documented statuses never seen, per operation:');
    for (const t of templates)
      for (const o of Object.values(t.ops)) {
        const seen = ops.get(`${o.method} ${t.template}`).statuses;
        const never = Object.keys(o.op.responses ?? {}).filter((s) => !seen.has(Number(s)));
        if (never.length) console.log(`  ${o.method} ${t.template}: ${never.join(', ')}`);
      }
  }
  const ok = failures.length === 0 && missing.length === 0 && staleAllow.length === 0;
  console.log(`contract: ${ok ? 'OK' : 'FAILED'}`);
  process.exit(ok ? 0 : 1);
}

try {
  main();
} catch (e) {
  console.error(`validate.mjs: ${e.message}`);
  process.exit(2);
}
