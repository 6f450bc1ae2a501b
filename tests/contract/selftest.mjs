#!/usr/bin/env node
/*
 * Checks the checker: runs validate.mjs on hand-made exchanges, each case
 * one JSON line, and asserts that a good exchange passes and that each kind
 * of disagreement with openapi.yaml fails with its message. A validator
 * that passed everything would otherwise look exactly like a server that
 * keeps its contract.
 *
 * Usage: node selftest.mjs   (exit 0 when every case behaves)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const problem = (status, title) =>
  JSON.stringify({ type: 'about:blank', title, status, detail: 'x' });
const order = {
  order_id: 'o-1', quote_id: null, symbol: 'BTC/EUR', side: 'buy', type: 'limit',
  quantity: '1.5', price: '100', status: 'open', external_order_id: null,
  filled_quantity: '0', avg_fill_price: null,
  created_at: '2026-11-26T15:00:00.123456Z', updated_at: '2026-11-26T15:00:00.123456Z',
};
const x = (over) => ({
  method: 'GET', path: '/orders/o-1', query: null, request_content_type: null,
  request_body: null, status: 200, content_type: 'application/json', allow: null,
  body: JSON.stringify(order), ...over,
});

/* [name, exchange, expected exit code, text the output must hold, more arguments] */
const cases = [
  ['a documented answer passes', x({}), 0, '0 failures'],
  ['a symbol with "/" matches {symbol}', x({ path: '/positions/BTC/EUR', status: 404, content_type: 'application/problem+json', body: problem(404, 'Not Found') }), 0, '0 failures'],
  ['an undocumented status fails', x({ status: 418 }), 1, 'status 418 is not documented'],
  ['a wrong content type fails', x({ content_type: 'text/plain' }), 1, 'content type "text/plain" is not documented'],
  ['a body off the schema fails', x({ body: JSON.stringify({ ...order, quantity: '1.50' }) }), 1, '/quantity must match pattern'],
  ['a body that is not JSON fails', x({ body: '{' }), 1, 'is not JSON'],
  ['a path the spec lacks must be 404', x({ path: '/nope' }), 1, 'only 404 fits'],
  ['a method the path lacks must be 405 with Allow', x({ method: 'DELETE', path: '/orders', status: 405, content_type: 'application/problem+json', body: problem(405, 'Method Not Allowed') }), 1, 'no Allow header'],
  ['an accepted request body off the schema fails', x({ method: 'POST', path: '/outbox/claim', request_content_type: 'application/json', request_body: '{"consumer": "c", "limit": 0}', body: '{"items": []}' }), 1, '/limit must be >= 1'],
  ['an accepted unknown query parameter fails', x({ path: '/orders', query: 'nope=1', body: '{"items": [], "next_cursor": null}' }), 1, 'query parameter nope was accepted but is not documented'],
  ['a 204 with a body fails', x({ method: 'DELETE', path: '/quotes/q-1', status: 204, content_type: null, body: 'x' }), 1, 'documents no body'],
  ['--backend postgresql checks the exchanges made on it', x({ backend: 'postgresql', status: 418 }), 1, 'status 418 is not documented', ['--backend', 'postgresql']],
  ['--backend sqlite leaves those made on PostgreSQL out', x({ backend: 'postgresql', status: 418 }), 0, '0 exchanges made on sqlite', ['--backend', 'sqlite']],
  ['an exchange with no backend recorded is SQLite\'s', x({ status: 418 }), 1, 'status 418 is not documented', ['--backend', 'sqlite']],
];

const dir = mkdtempSync(join(tmpdir(), 'contract-selftest-'));
let bad = 0;
try {
  cases.forEach(([name, exchange, code, text, args = []], i) => {
    const file = join(dir, `${i}.jsonl`);
    writeFileSync(file, JSON.stringify(exchange) + '\n');
    const r = spawnSync(process.execPath, [join(here, 'validate.mjs'), '--no-coverage', ...args, file], { encoding: 'utf8' });
    const out = r.stdout + r.stderr;
    if (r.status !== code || !out.includes(text)) {
      bad++;
      console.log(`selftest FAIL: ${name}: exit ${r.status} (want ${code}), output lacks "${text}":\n${out}`);
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`contract selftest: ${cases.length - bad} of ${cases.length} cases behave`);
process.exit(bad ? 1 : 0);
