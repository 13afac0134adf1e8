// Federation (social login) through a real upstream OpenID Provider nobody
// here wrote: Node's oidc-provider (panva, `lib/upstream-provider.mjs`),
// started by this file on a free loopback port and registered in Portcullis
// as an identity provider. A relying party of Portcullis (openid-client)
// asks for a code; headless Chromium goes from Portcullis to the upstream's
// development login and consent pages and back through the callback, as a
// person would.
//
// The first test starts at the login page's "Continue with ..." link; the
// others send `idp_hint`, which goes to the upstream without that page, so
// that each test is about one thing (the button has a test of its own).
//
// The relying party asks for its tokens with `resource={issuer}` (RFC 8707)
// where it calls Portcullis's REST API with them: a token a client gets for
// a user is for the client's audience otherwise, which the API refuses.
//
// Also prints (does not assert) the wall time of social and password
// sign-in round trips, from the authorization request to the code at the
// client's redirect URI, in the same browser setup.
//
// Skipped as a whole while the OpenID Provider endpoints are not built, or
// when this Node.js is too old for oidc-provider.
import {
  ApiError,
  LOOPBACK_ONLY,
  adminApi,
  createUser,
  env,
  issuer,
  launchBrowser,
  oidcMissing,
  randomHex,
  startCallbackServer,
} from '../lib/portcullis.mjs';
import {
  PAGE_TIMEOUT,
  authorizationRequest,
  logInAccepted,
  loginForm,
  nextResponse,
  redirectsTo,
  relyingParty as registerRelyingParty,
} from '../lib/relying-party.mjs';
import { accountClaims, listen, upstreamMissing } from '../lib/upstream-provider.mjs';

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';

const skip = (await oidcMissing()) || upstreamMissing;
/** The provider's alias in Portcullis, and the label of its button. */
const alias = `corp-${randomHex(4)}`;
const LABEL = 'Corp SSO';
/** Round trips of each kind the latency test measures. */
const SAMPLES = 5;

let browser;
let callbacks;
let upstream;
let provider;
let rp;
/** The errors each page wrote to the browser's console (CSP violations). */
const consoleErrors = new WeakMap();

/** A test of federation: skipped (each one, so that each is listed) when it cannot run. */
function fedTest(name, body) {
  return test(name, { skip, timeout: 120_000 }, body);
}

/** A login name (and address) at the upstream, unique to this run. */
function upstreamLogin(prefix) {
  return `${prefix}-${randomHex(5)}@upstream.test`;
}

/**
 * A fresh browser context and page, closed after `body`. The browser
 * reaches no host but `localhost` and `127.0.0.1` (the upstream's pages ask
 * for a web font on the Internet).
 */
async function withPage(body) {
  browser ??= await launchBrowser({ args: [LOOPBACK_ONLY] });
  const context = await browser.newContext();
  context.setDefaultTimeout(PAGE_TIMEOUT);
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    consoleErrors.set(page, errors);
    return await body(page, context);
  } finally {
    await context.close();
  }
}

/**
 * Waits until the page commits a URL for which `predicate` holds; when it
 * does not in time, fails with where the page is and what the browser
 * logged (a Content-Security-Policy that blocks a redirect shows there).
 */
async function reach(page, predicate, what) {
  try {
    await page.waitForURL((u) => predicate(u.href), { waitUntil: 'commit' });
  } catch (err) {
    if (err.name !== 'TimeoutError') throw err;
    const logged = consoleErrors.get(page) ?? [];
    assert.fail(
      `the browser did not reach ${what}; it is at ${page.url()}` +
        (logged.length ? `; the browser's console: ${logged.join(' | ')}` : ''),
    );
  }
}

/**
 * Records the documents `page` is shown (final answers of navigations, not
 * redirects) as `{ url, status }`, until `stop()`.
 */
function recordDocuments(page) {
  const shown = [];
  const listener = (response) => {
    const request = response.request();
    if (request.resourceType() === 'document' && request.frame() === page.mainFrame()) {
      const status = response.status();
      if (status < 300 || status >= 400) {
        shown.push({ url: response.url(), status });
      }
    }
  };
  page.on('response', listener);
  return {
    shown,
    stop: () => page.off('response', listener),
    /** `status origin+path` of each, for messages. */
    list: () => shown.map((d) => `${d.status} ${d.url.split('?')[0]}`).join(', '),
  };
}

function isUpstream(url) {
  return url.startsWith(`${upstream.issuer}/`);
}

function isInteraction(url) {
  return url.startsWith(`${upstream.issuer}/interaction/`);
}

/** Whether `url` is the provider's callback, as Portcullis named it. */
function isCallback(url) {
  return url === provider.redirect_uri || url.startsWith(`${provider.redirect_uri}?`);
}

function isClient(url) {
  return url.startsWith(`${rp.redirectUri}?`);
}

/** Clicks "Continue with Corp SSO" on Portcullis's login page. */
async function continueWithProvider(page) {
  await loginForm(page);
  await page.getByRole('link', { name: `Continue with ${LABEL}` }).click();
}

/**
 * Waits for the upstream's login page, signs in there as `login` (with any
 * password), and answers its consent page when it is shown. Resolves once
 * the browser left the upstream.
 */
async function signInUpstream(page, login) {
  await reach(page, isInteraction, "the upstream's login page");
  const form = page.locator('form', { has: page.locator('input[name="prompt"][value="login"]') });
  await form.locator('input[name="login"]').fill(login);
  await form.locator('input[name="password"]').fill('any password will do');
  const loginUrl = page.url();
  await form.locator('button[type="submit"]').click();
  await reach(page, (u) => u !== loginUrl, "the page after the upstream's login");
  if (isInteraction(page.url())) {
    const consent = page.locator('form', { has: page.locator('input[name="prompt"][value="consent"]') });
    await consent.locator('button[type="submit"]').click();
  }
  await reach(page, (u) => !isUpstream(u), 'Portcullis again, after the upstream');
}

/**
 * Waits for the browser to reach the client's redirect URI with a code; the
 * request with the URL it reached, for openid-client.
 */
async function arrivedAtClient(page, request) {
  await reach(page, (u) => u.startsWith(rp.redirectUri), "the client's redirect URI");
  const callbackUrl = new URL(page.url());
  assert.equal(callbackUrl.searchParams.get('error'), null, `an error at the client: ${callbackUrl}`);
  assert.equal(callbackUrl.searchParams.get('iss'), issuer, 'RFC 9207 iss in the response');
  assert.equal(callbackUrl.searchParams.get('state'), request.state);
  assert.ok(callbackUrl.searchParams.get('code'), 'a code');
  return { ...request, callbackUrl };
}

/** A new authorization request, with `idp_hint` when `hint`. */
function newRequest(hint) {
  return authorizationRequest(rp, hint ? { idp_hint: alias } : {});
}

/**
 * A whole social sign-in for a new authorization request: Portcullis's
 * login page and its button (or, with `hint`, `idp_hint` instead), the
 * upstream's pages as `login`, the callback, and the redirect with the code.
 * Returns the request with the URL reached, and the time it took.
 */
async function socialSignIn(page, login, { hint = false } = {}) {
  const request = await newRequest(hint);
  const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
  const started = performance.now();
  await page.goto(request.url.href, { waitUntil: 'commit' });
  if (!hint) {
    await continueWithProvider(page);
  }
  await signInUpstream(page, login);
  const auth = await arrivedAtClient(page, request);
  const elapsed = performance.now() - started;
  assert.equal((await redirected).status(), 303, 'the authorization response is a 303');
  return { auth, elapsed };
}

/**
 * The code exchange, for tokens Portcullis's REST API accepts too
 * (`resource` is the realm's issuer, RFC 8707).
 */
function exchange(auth) {
  return client.authorizationCodeGrant(
    rp.config,
    auth.callbackUrl,
    {
      pkceCodeVerifier: auth.codeVerifier,
      expectedState: auth.state,
      expectedNonce: auth.nonce,
      idTokenExpected: true,
    },
    { resource: issuer },
  );
}

/** `GET /api/v1/auth/social-accounts` with a user's access token. */
async function socialAccounts(accessToken) {
  const response = await fetch(`${env.url}/api/v1/auth/social-accounts`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  const body = await response.json();
  assert.equal(response.status, 200, `social-accounts: ${JSON.stringify(body)}`);
  return body.items;
}

/** Asserts that `items` is one link, to `login` at the provider. */
function assertLinked(items, login) {
  assert.equal(items.length, 1, `one link: ${JSON.stringify(items)}`);
  const [link] = items;
  assert.equal(link.provider, alias);
  assert.equal(link.kind, 'oidc');
  assert.equal(link.subject, accountClaims(login).sub);
  assert.equal(link.email, accountClaims(login).email);
  assert.ok(link.created_at, 'created_at');
}

/** Asserts the ID token's claims of a sign-in through the provider. */
function assertFederated(claims) {
  assert.ok(Array.isArray(claims.amr) && claims.amr.includes('fed'), `amr: ${JSON.stringify(claims.amr)}`);
  assert.equal(claims.idp, alias);
}

/**
 * The time to the first byte of the answer of each hop of a social sign-in
 * in `page` (Portcullis's authorize, the upstream's authorize, Portcullis's
 * callback), from the browser's timing of each request, until `stop()`.
 */
function hopTimes(page) {
  const times = {};
  const hopOf = (url) => {
    if (url.startsWith(`${issuer}/oauth2/authorize?`)) return 'authorize';
    if (url.startsWith(`${upstream.issuer}/auth?`)) return 'upstream';
    if (isCallback(url)) return 'callback';
    return undefined;
  };
  const listener = (request) => {
    const hop = hopOf(request.url());
    const timing = request.timing();
    if (hop && timing.responseStart >= 0) {
      times[hop] = timing.responseStart;
    }
  };
  page.on('requestfinished', listener);
  return {
    stop: () => {
      page.off('requestfinished', listener);
      return times;
    },
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function report(label, samples) {
  if (samples.length === 0) {
    console.log(`federation latency: ${label}: no samples`);
    return;
  }
  const ms = samples.map((s) => Math.round(s));
  console.log(
    `federation latency: ${label}: median ${Math.round(median(samples))} ms, ` +
      `min ${Math.min(...ms)} ms, max ${Math.max(...ms)} ms (${ms.length} samples: ${ms.join(', ')} ms)`,
  );
}

describe('federation with an upstream OpenID Provider (oidc-provider)', () => {
  before(async () => {
    if (skip) {
      return;
    }
    callbacks = await startCallbackServer();
    upstream = await listen();
    const clientId = `portcullis-${randomHex(4)}`;
    const clientSecret = randomHex(24);
    provider = await adminApi('POST', '/identity-providers', {
      alias,
      kind: 'oidc',
      display_name: LABEL,
      issuer: upstream.issuer,
      client_id: clientId,
      client_secret: clientSecret,
      auto_link: false,
      allow_signup: true,
      trust_email: false,
    });
    assert.equal(provider.redirect_uri, `${env.url}/api/v1/auth/social/${alias}/callback`);
    assert.equal(provider.has_secret, true);
    await upstream.start({ clientId, clientSecret, redirectUri: provider.redirect_uri });
    rp = await registerRelyingParty(callbacks);
  });
  after(async () => {
    await browser?.close();
    await callbacks?.close();
    await upstream?.close();
    if (provider) {
      await adminApi('DELETE', `/identity-providers/${alias}`).catch((err) => {
        if (!(err instanceof ApiError)) throw err;
      });
    }
  });

  fedTest("a new user signs up with the login page's button: amr fed, idp, one link", async () => {
    const login = upstreamLogin('new');
    await withPage(async (page) => {
      const documents = recordDocuments(page);
      const { auth } = await socialSignIn(page, login);
      documents.stop();

      // What the person saw: Portcullis's login page, the upstream's login
      // and consent pages, then the client; no page at the callback.
      assert.ok(documents.shown.every((d) => d.status === 200), documents.list());
      assert.ok(documents.shown.every((d) => !isCallback(d.url)), documents.list());
      assert.equal(documents.shown.filter((d) => isInteraction(d.url)).length, 2, documents.list());

      // Portcullis was a proper client of the upstream: PKCE S256, state,
      // nonce, its callback, the scopes, one code exchange with
      // client_secret_basic.
      const authorize = upstream.requests.filter((r) => r.path === '/auth' && r.query.client_id);
      const up = authorize.at(-1).query;
      assert.equal(up.response_type, 'code');
      assert.equal(up.redirect_uri, provider.redirect_uri);
      assert.equal(up.code_challenge_method, 'S256');
      assert.equal(up.code_challenge.length, 43);
      assert.ok(up.state && up.nonce, 'state and nonce');
      assert.deepEqual(up.scope.split(' ').sort(), ['email', 'openid', 'profile']);
      const token = upstream.requests.filter((r) => r.path === '/token');
      assert.equal(token.length, 1, 'one code exchange upstream');
      assert.equal(token[0].method, 'POST');
      assert.equal(token[0].authorization, 'Basic');

      const tokens = await exchange(auth);
      const claims = tokens.claims();
      assertFederated(claims);
      const info = await client.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
      assert.equal(info.email, login);
      assert.equal(info.name, accountClaims(login).name);
      assertLinked(await socialAccounts(tokens.access_token), login);
    });
    assert.deepEqual(upstream.errors, []);
  });

  fedTest('a returning user is the same account, with no confirmation page', async () => {
    const login = upstreamLogin('returning');
    const subs = [];
    for (const time of ['first', 'again']) {
      // A fresh browser each time: signed in neither here nor upstream.
      await withPage(async (page) => {
        const documents = recordDocuments(page);
        const { auth } = await socialSignIn(page, login, { hint: true });
        documents.stop();
        assert.ok(documents.shown.every((d) => !isCallback(d.url)), `${time}: ${documents.list()}`);
        const tokens = await exchange(auth);
        const claims = tokens.claims();
        assertFederated(claims);
        subs.push(claims.sub);
        const items = await socialAccounts(tokens.access_token);
        assertLinked(items, login);
        assert.ok(items[0].last_login_at, 'last_login_at');
      });
    }
    assert.equal(subs[1], subs[0], 'the same account');
    assert.deepEqual(upstream.errors, []);
  });

  fedTest("an account with the upstream's address is linked once its password is given", async () => {
    const email = upstreamLogin('local');
    const password = `Pw-${randomHex(10)}-Zq!`;
    const response = await fetch(`${env.url}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, name: 'Local Person' }),
    });
    const registered = await response.json();
    assert.equal(response.status, 201, `register: ${JSON.stringify(registered)}`);

    await withPage(async (page) => {
      const request = await newRequest(true);
      await page.goto(request.url.href, { waitUntil: 'commit' });
      await signInUpstream(page, email);

      // The confirmation page, at the callback.
      assert.ok(isCallback(page.url()), `at the callback: ${page.url()}`);
      const heading = page.locator('h1');
      await heading.waitFor();
      assert.equal((await heading.textContent()).trim(), `Link ${LABEL} to your account`);
      assert.ok((await page.locator('body').textContent()).includes(email), 'the page names the address');
      const form = page.locator('form', { has: page.locator('input[name="password"]') });
      assert.equal((await form.getAttribute('method'))?.toLowerCase(), 'post');
      const field = form.locator('input[name="password"]');
      assert.equal(await field.getAttribute('type'), 'password');
      assert.equal(await field.getAttribute('autocomplete'), 'current-password');
      await field.fill(password);
      const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
      await form.getByRole('button', { name: 'Link and sign in' }).click();
      const auth = await arrivedAtClient(page, request);
      assert.equal((await redirected).status(), 303);

      const tokens = await exchange(auth);
      const claims = tokens.claims();
      assert.equal(claims.sub, registered.id, 'signed in as the local account');
      assertFederated(claims);
      assertLinked(await socialAccounts(tokens.access_token), email);
    });
    assert.deepEqual(upstream.errors, []);
  });

  fedTest('idp_hint goes straight to the provider, without the login page', async () => {
    const login = upstreamLogin('hinted');
    await withPage(async (page) => {
      const request = await newRequest(true);
      const documents = recordDocuments(page);
      const first = nextResponse(page, (r) => r.url() === request.url.href);
      await page.goto(request.url.href, { waitUntil: 'commit' });
      // The authorization request answers a redirect to the upstream.
      const answer = await first;
      assert.equal(answer.status(), 303);
      assert.ok(isUpstream(answer.headers().location ?? ''), `to the upstream: ${answer.headers().location}`);
      await signInUpstream(page, login);
      const auth = await arrivedAtClient(page, request);
      documents.stop();
      assert.ok(isInteraction(documents.shown[0]?.url ?? ''), `the first page is the upstream's: ${documents.list()}`);
      assert.ok(documents.shown.every((d) => !d.url.startsWith(env.url)), `no page of Portcullis: ${documents.list()}`);

      const tokens = await exchange(auth);
      assertFederated(tokens.claims());
      assertLinked(await socialAccounts(tokens.access_token), login);
    });
    assert.deepEqual(upstream.errors, []);
  });

  fedTest("the upstream's access_denied shows the login page with an error, not a 500", async () => {
    await withPage(async (page) => {
      const request = await newRequest(true);
      await page.goto(request.url.href, { waitUntil: 'commit' });
      await reach(page, isInteraction, "the upstream's login page");

      // The upstream's own "[ Cancel ]": it answers access_denied to the callback.
      const landed = nextResponse(page, (r) => isCallback(r.url()) && r.request().resourceType() === 'document');
      await page.getByRole('link', { name: /cancel/i }).click();
      const answer = await landed;
      const back = new URL(answer.url());
      assert.equal(back.searchParams.get('error'), 'access_denied');
      assert.ok(back.searchParams.get('state'), 'the state came back');
      assert.ok(answer.status() < 500, `the callback answered ${answer.status()}`);
      assert.equal(answer.status(), 400);
      assert.match(answer.headers()['content-type'] ?? '', /^text\/html/);
      const error = page.locator('.error[role="alert"]:not([hidden])');
      await error.waitFor();
      assert.match(await error.textContent(), /cancelled|refused/i);
      await loginForm(page);
      await page.getByRole('link', { name: `Continue with ${LABEL}` }).waitFor();

      // The same authorization request goes on with a password there.
      const user = await createUser();
      const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
      await logInAccepted(page, user);
      const auth = await arrivedAtClient(page, request);
      assert.equal((await redirected).status(), 303);
      const claims = (await exchange(auth)).claims();
      assert.ok(!(claims.amr ?? []).includes('fed'), `amr: ${JSON.stringify(claims.amr)}`);
      assert.equal(claims.idp, undefined);

      // The attempt is spent: the same answer again is refused, not a 500.
      const replay = await page.goto(back.href);
      assert.equal(replay.status(), 400);
    });
    assert.deepEqual(upstream.errors, []);
  });

  fedTest('latency: social and password sign-in round trips (printed, not asserted)', async () => {
    const login = upstreamLogin('timed');
    const user = await createUser();
    const password = [];
    const social = [];
    const socialSso = [];

    // Password: a fresh browser; Portcullis's login page, the password, the code.
    for (let i = 0; i < SAMPLES; i += 1) {
      await withPage(async (page) => {
        const request = await newRequest(false);
        const started = performance.now();
        await page.goto(request.url.href, { waitUntil: 'commit' });
        await logInAccepted(page, user);
        await arrivedAtClient(page, request);
        password.push(performance.now() - started);
      });
    }
    // Social, a fresh browser (the account is linked already): idp_hint, the
    // upstream's login and consent pages, the callback, the code.
    for (let i = 0; i < SAMPLES; i += 1) {
      await withPage(async (page) => {
        social.push((await socialSignIn(page, login, { hint: true })).elapsed);
      });
    }
    // Social, signed in upstream already (only Portcullis's cookies
    // cleared): idp_hint, then redirects only, through the callback.
    // Each hop's time to the first byte of its answer, as the browser saw it.
    const hops = { authorize: [], upstream: [], callback: [] };
    await withPage(async (page, context) => {
      await socialSignIn(page, login, { hint: true });
      for (let i = 0; i < SAMPLES; i += 1) {
        await context.clearCookies({ domain: new URL(env.url).hostname });
        const request = await newRequest(true);
        const documents = recordDocuments(page);
        const timed = hopTimes(page);
        const started = performance.now();
        await page.goto(request.url.href, { waitUntil: 'commit' });
        await arrivedAtClient(page, request);
        socialSso.push(performance.now() - started);
        documents.stop();
        for (const [hop, ms] of Object.entries(timed.stop())) {
          hops[hop].push(ms);
        }
        assert.ok(documents.shown.every((d) => isClient(d.url)), `redirects only: ${documents.list()}`);
      }
    });

    report('password sign-in round trip (login page, password, code)', password);
    report('social sign-in round trip (idp_hint, upstream login + consent pages, callback, code)', social);
    report('social sign-in round trip, signed in upstream already (idp_hint, redirects, callback, code)', socialSso);
    report("  of which Portcullis's authorize (idp_hint, 303 to the upstream)", hops.authorize);
    report("  of which the upstream's authorize (303 to the callback)", hops.upstream);
    report("  of which Portcullis's callback (code exchange upstream, ID token checks, sign-in, 303 to the client)", hops.callback);
    assert.deepEqual(upstream.errors, []);
  });
});
