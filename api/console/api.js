// api.js — the console's client of mcloud-api (/v1/..., this origin): the
// API key from sessionStorage on every call, problem+json errors turned into
// ApiError with the server's detail, and a 404 on an endpoint this server
// does not have told apart (ApiError.unavailable) so pages can say so.

const KEY = 'mcloud.console.api_key';

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
  }
  // on a collection (/v1/webhooks, /v1/usage): this server lacks the endpoint
  get unavailable() { return this.status === 404; }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

export async function api(method, path, body, headers = {}) {
  const h = { Authorization: `Bearer ${apiKey.get() || ''}`, ...headers };
  const init = { method, headers: h };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/v1/${path}`, init);
  const text = await res.text();
  let doc = null;
  if (text) {
    try { doc = JSON.parse(text); } catch (_) { doc = { detail: text.slice(0, 200) }; }
  }
  if (!res.ok) throw new ApiError(res.status, doc);
  return doc;
}
