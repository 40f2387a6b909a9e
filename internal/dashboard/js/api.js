// The drill-down API under api/v1/, asked with the segment filters the
// server applied to the page, so that every panel counts the same users
// as the flow, the funnel and the alerts it was opened from.

const bar = [...document.querySelectorAll('.filters select[data-segment]')];

// segments are the map's spec.segments, in the filter bar's order.
export const segments = bar.map((s) => s.dataset.segment);

// applied are the [segment, value] filters the page was rendered with:
// the options the server marked selected, whatever the bar shows since.
export const applied = bar.flatMap((s) => {
  const o = s.querySelector('option[selected]');
  return o && o.value !== '' ? [[s.dataset.segment, o.value]] : [];
});

// APIError is an answer other than 200, with the API's own reason.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// get asks the API for path (relative to api/v1/, already escaped) with
// the page's filters, less the one on segment except when given, and the
// params that are set.
export async function get(path, params = {}, except = null) {
  const q = new URLSearchParams();
  for (const [name, value] of applied) {
    if (name !== except) q.append('segment', `${name}=${value}`);
  }
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const qs = q.toString();
  let resp;
  try {
    resp = await fetch(`api/v1/${path}${qs ? `?${qs}` : ''}`, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw new APIError(0, `The server did not answer: ${e.message}`);
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // not JSON: the status says what happened
  }
  if (!resp.ok) {
    const reason = body && typeof body.error === 'string' ? body.error : resp.statusText;
    throw new APIError(resp.status, `${resp.status}: ${reason}`);
  }
  if (body === null) throw new APIError(resp.status, `api/v1/${path} did not answer JSON`);
  return body;
}

// pathOf escapes names (stages, users, alerts) as path segments.
export function pathOf(...names) {
  return names.map((n) => encodeURIComponent(n)).join('/');
}
