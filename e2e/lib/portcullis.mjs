// Shared helpers of the end-to-end suites: where the server is (from the
// environment `cargo xtask e2e` sets), the administrator's REST calls that
// create users and clients, a loopback callback server for redirect URIs, and
// headless Chromium. Import this module before openid-client or jose.
import './webcrypto.mjs';

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the end-to-end suites with \`cargo xtask e2e\`, ` +
        'which starts the server and sets PORTCULLIS_URL, PORTCULLIS_ADMIN_EMAIL, ' +
        'PORTCULLIS_ADMIN_PASSWORD, PORTCULLIS_REALM and CHROMIUM_PATH',
    );
  }
  return value;
}

/** Where the server under test is, and who administers it. */
export const env = Object.freeze({
  url: required('PORTCULLIS_URL').replace(/\/+$/, ''),
  adminEmail: required('PORTCULLIS_ADMIN_EMAIL'),
  adminPassword: required('PORTCULLIS_ADMIN_PASSWORD'),
  realm: required('PORTCULLIS_REALM'),
  chromiumPath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
});

/** The realm's issuer identifier, `{url}/realms/{realm}`. */
export const issuer = `${env.url}/realms/${encodeURIComponent(env.realm)}`;

/** A random lower-case hex string of `bytes` bytes. */
export function randomHex(bytes = 8) {
  return randomBytes(bytes).toString('hex');
}

/** A unique name for the objects a test creates. */
export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${randomHex(4)}`;
}

/** An HTTP error of the REST API, with the status and the parsed body. */
export class ApiError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path}: ${status} ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

async function parseBody(response) {
  const text = await response.text();
  if (text === '') {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

let adminToken;

/** The bootstrap administrator's access token (logged in once per process). */
export async function adminAccessToken() {
  adminToken ??= (async () => {
    const response = await fetch(`${env.url}/api/v1/realms/${env.realm}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: env.adminEmail, password: env.adminPassword }),
    });
    const body = await parseBody(response);
    if (response.status !== 200 || typeof body?.access_token !== 'string') {
      throw new ApiError('POST', '/auth/login (administrator)', response.status, body);
    }
    return body.access_token;
  })();
  try {
    return await adminToken;
  } catch (err) {
    adminToken = undefined;
    throw err;
  }
}

/**
 * A call to the realm's REST API (`/api/v1/realms/{realm}{path}`) as the
 * administrator; the parsed answer, or an ApiError unless the status is 2xx.
 */
export async function adminApi(method, path, body) {
  const headers = { authorization: `Bearer ${await adminAccessToken()}` };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${env.url}/api/v1/realms/${env.realm}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await parseBody(response);
  if (response.status < 200 || response.status > 299) {
    throw new ApiError(method, path, response.status, parsed);
  }
  return parsed;
}

/**
 * Registers an OAuth client (`POST /clients`) with `fields` (a unique `name`
 * unless given); the client as answered, with `client_secret` when it has one.
 */
export async function createClient(fields = {}) {
  return adminApi('POST', '/clients', { name: uniqueName('e2e-client'), ...fields });
}

/**
 * Creates a fresh user (`POST /identity/users`); `{ id, email, name,
 * password }`.
 */
export async function createUser(fields = {}) {
  const tag = randomHex(6);
  const user = {
    email: `e2e-${tag}@example.test`,
    name: `E2E User ${tag}`,
    password: `Pw-${randomHex(10)}-Zq!`,
    ...fields,
  };
  const created = await adminApi('POST', '/identity/users', user);
  return { ...created, password: user.password };
}

/** `text` escaped for HTML text and double-quoted attribute values. */
export function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

/**
 * A tiny HTTP server on a free loopback port standing in for a client's
 * redirect URIs and pages: a path given to `serve(path, html)` answers that
 * HTML, any other a small page; each request's path and query is remembered
 * in `requests`. `url(path)` is `http://127.0.0.1:{port}{path}`.
 */
export async function startCallbackServer() {
  const requests = [];
  const pages = new Map();
  const server = createServer((req, res) => {
    requests.push(req.url);
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    const body = pages.get(path) ?? '<p>callback reached</p>';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><html lang="en"><title>relying party</title>${body}</html>`);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    requests,
    url: (path = '/cb') => `http://127.0.0.1:${port}${path}`,
    serve: (path, html) => pages.set(path, html),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * Chromium's switches: headless, no sandbox (root), and nothing that reaches
 * outside the machine (its connections to Google's hosts are refused here).
 */
export const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

/**
 * Chromium's switch that reaches no host but `localhost` and `127.0.0.1`
 * (the rules apply to IP literals too): pages of software nobody here wrote
 * (oidc-provider's load a web font) stay on loopback, and fail at once
 * rather than wait for the network.
 */
export const LOOPBACK_ONLY =
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1';

/** Starts headless Chromium (Debian's, through playwright-core), with `args` too. */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: env.chromiumPath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 30_000,
  });
}

/**
 * Whether the OpenID Provider endpoints are built: a reason to skip the tests
 * that need them when `{issuer}/.well-known/openid-configuration` answers
 * 404, else `false`. Any other answer runs the tests (and they tell what is
 * wrong).
 */
export async function oidcMissing() {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  await response.body?.cancel();
  return response.status === 404
    ? 'the OpenID Provider is not built yet (openid-configuration answers 404)'
    : false;
}
