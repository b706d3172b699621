'use strict';
/**
 * HTTP load with autocannon's programmatic API: every request gets its own Idempotency-Key
 * (setupRequest), so the intake stores each one instead of answering idempotent replays.
 */
const autocannon = require('autocannon');

/**
 * @param {object} o
 * @param {string} o.url  base URL of the server
 * @param {string} o.path
 * @param {object} o.headers
 * @param {string} o.body  the JSON body, the same for every request
 * @param {string} o.keyPrefix  Idempotency-Key of request n is `<keyPrefix>-<n>`
 * @param {number} o.connections
 * @param {number} [o.duration]  seconds
 * @param {number} [o.amount]  number of requests (instead of a duration)
 * @param {(status: number, body: string) => void} [o.onResponse]  sees every answer (and makes autocannon keep bodies)
 */
function runLoad({ url, path, headers, body, keyPrefix, connections, duration, amount, onResponse }) {
  let sequence = 0;
  const request = {
    method: 'POST',
    path,
    headers,
    body,
    setupRequest: (req) => {
      sequence += 1;
      return { ...req, headers: { ...req.headers, 'idempotency-key': `${keyPrefix}-${sequence}` } };
    },
  };
  if (onResponse) request.onResponse = (status, responseBody) => onResponse(status, responseBody);
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections,
        ...(amount !== undefined ? { amount } : { duration }),
        timeout: 10,
        requests: [request],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

/** What the report keeps of an autocannon result. Rates count 2xx answers only. */
function summarize(result) {
  const ok = result['2xx'];
  return {
    duration_s: round(result.duration, 2),
    requests: ok + result.non2xx,
    ok,
    ok_per_s: round(ok / result.duration, 1),
    // autocannon records the latency of 2xx answers only.
    latency_ms: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: round(result.latency.average, 2) },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    status_codes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count])),
  };
}

function round(value, digits) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** One POST, answering {status, json}; for probes before a load run. */
async function postJson(url, headers, body) {
  const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, json };
}

/**
 * A refusal in words for an error message: status, problem title and the names of the
 * fields at fault. Never the body's values (a problem can quote the lead).
 */
function describeRefusal({ status, json }) {
  const title = typeof json?.title === 'string' ? ` ${json.title}` : '';
  const fields = Array.isArray(json?.errors) ? json.errors.map((e) => e?.field).filter((f) => typeof f === 'string').slice(0, 10) : [];
  return `HTTP ${status}${title}${fields.length ? ` (fields: ${fields.join(', ')})` : ''}`;
}

module.exports = { runLoad, summarize, postJson, describeRefusal, round };
