// The relying party's and the person's side of the OpenID Provider tests:
// a client registered against the loopback callback server with its
// openid-client configuration, authorization requests with PKCE, and the
// login form in headless Chromium. Shared by the end-to-end suites.
import { createClient, issuer, launchBrowser, uniqueName } from './portcullis.mjs';

import assert from 'node:assert/strict';
import * as client from 'openid-client';

export const SCOPE = 'openid profile email offline_access';
export const AUTHORIZE = `${issuer}/oauth2/authorize`;
/** Playwright's wait for any one page event. */
export const PAGE_TIMEOUT = 10_000;

let browser;

/** One headless Chromium for the file, started on first use. */
export async function newContext(options = {}) {
  browser ??= await launchBrowser();
  const context = await browser.newContext(options);
  context.setDefaultTimeout(PAGE_TIMEOUT);
  return context;
}

/** Closes the browser `newContext` started, if any. */
export async function closeBrowser() {
  await browser?.close();
  browser = undefined;
}

/**
 * A relying party: a client registered with the callback server's `/cb` as
 * redirect URI and `/logged-out` as post-logout redirect URI, and its
 * openid-client configuration from OpenID discovery.
 */
export async function relyingParty(callbacks, fields = {}) {
  const redirectUri = callbacks.url('/cb');
  const postLogoutUri = callbacks.url('/logged-out');
  const created = await createClient({
    name: uniqueName('e2e-rp'),
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [postLogoutUri],
    ...fields,
  });
  const auth =
    created.token_endpoint_auth_method === 'none'
      ? client.None()
      : client.ClientSecretBasic(created.client_secret);
  const config = await client.discovery(new URL(issuer), created.client_id, undefined, auth, {
    // Plain http on loopback; ID token signatures checked against the JWKS.
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
  return { created, config, redirectUri, postLogoutUri };
}

/** A new authorization request of `rp` with PKCE (S256), state and nonce. */
export async function authorizationRequest(rp, extra = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, codeVerifier, state, nonce };
}

/**
 * The next response of `page` matching `predicate`, waited for from now on.
 * If the test fails before awaiting it, its rejection (the page closes) is
 * not reported in place of the real failure.
 */
export function nextResponse(page, predicate) {
  const response = page.waitForResponse(predicate);
  response.catch(() => {});
  return response;
}

/** Whether `response` is a redirect to `uri` (with a query). */
export function redirectsTo(response, uri) {
  const location = response.headers().location ?? '';
  return location === uri || location.startsWith(`${uri}?`);
}

/** The login form of the page: checks its fields, returns its locator. */
export async function loginForm(page) {
  const form = page.locator('form', { has: page.locator('input[name="password"]') });
  await form.waitFor();
  assert.equal((await form.getAttribute('method'))?.toLowerCase(), 'post', 'the login form posts');
  const email = form.locator('input[name="email"]');
  const password = form.locator('input[name="password"]');
  assert.equal(await email.getAttribute('autocomplete'), 'username');
  assert.equal(await password.getAttribute('autocomplete'), 'current-password');
  assert.equal(await password.getAttribute('type'), 'password');
  const csrf = form.locator('input[type="hidden"][name="csrf_token"]');
  assert.equal(await csrf.count(), 1, 'one hidden csrf_token');
  assert.ok(((await csrf.getAttribute('value')) ?? '').length >= 16, 'a csrf_token value');
  assert.ok((await submitButtons(form).count()) >= 1, 'a submit button');
  return form;
}

export function submitButtons(form) {
  return form.locator('button[type="submit"], button:not([type]), input[type="submit"]');
}

/** The `<title>` of an HTML document. */
export function titleOf(html) {
  return /<title>([^<]*)<\/title>/i.exec(html)?.[1]?.trim() ?? '(no title)';
}

/** Fills in and submits the login form; resolves to the answer once it arrived. */
export async function logIn(page, user) {
  const form = await loginForm(page);
  await form.locator('input[name="email"]').fill(user.email);
  await form.locator('input[name="password"]').fill(user.password);
  const answered = nextResponse(page, (r) => r.request().method() === 'POST');
  await submitButtons(form).first().click();
  return answered;
}

/**
 * Logs in with the right password: fails at once, with the page's title,
 * if the form's POST is refused, rather than time out waiting for a redirect.
 */
export async function logInAccepted(page, user) {
  const answer = await logIn(page, user);
  if (answer.status() >= 400) {
    assert.fail(`the login form's POST answered ${answer.status()}: ${titleOf(await answer.text())}`);
  }
  return answer;
}

/** The consent page of `rp`: shows its name; clicks `decision`. */
export async function decide(page, rp, decision) {
  const button = page.locator(`button[name="decision"][value="${decision}"]`);
  await button.waitFor();
  assert.equal(await page.locator('button[name="decision"][value="allow"]').count(), 1);
  assert.equal(await page.locator('button[name="decision"][value="deny"]').count(), 1);
  assert.ok(
    (await page.locator('body').textContent()).includes(rp.created.name),
    'the consent page names the client',
  );
  await button.click();
}

/**
 * Runs an authorization request of `rp` in `page`: logs `user` in when
 * `login` (the default), answers the consent page when `consent` is 'allow'
 * or 'deny', and waits for the 303 to the redirect URI. Returns the request
 * and the URL the browser reached, for openid-client.
 */
export async function authorize(page, rp, { user, login = true, consent, extra } = {}) {
  const request = await authorizationRequest(rp, extra);
  const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
  await page.goto(request.url.href);
  if (login) {
    await logInAccepted(page, user);
  }
  if (consent) {
    await decide(page, rp, consent);
  }
  const redirect = await redirected;
  assert.equal(redirect.status(), 303, 'the authorization response is a 303');
  await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { waitUntil: 'commit' });
  const callbackUrl = new URL(page.url());
  assert.equal(callbackUrl.searchParams.get('iss'), issuer, 'RFC 9207 iss in the response');
  assert.equal(callbackUrl.searchParams.get('state'), request.state);
  return { ...request, callbackUrl };
}

/** The code exchange of an authorization that succeeded. */
export function exchange(rp, auth) {
  return client.authorizationCodeGrant(rp.config, auth.callbackUrl, {
    pkceCodeVerifier: auth.codeVerifier,
    expectedState: auth.state,
    expectedNonce: auth.nonce,
    idTokenExpected: true,
  });
}

/** Asserts that `promise` rejects with the OAuth error code `code`. */
export async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.error, code, `expected ${code}, got ${err.name}: ${err.message}`);
    return true;
  });
}

/** The URLs of the provider's HTML pages shown (200) while `action` ran. */
export async function pagesShownDuring(page, action) {
  const shown = [];
  const listener = (response) => {
    if (
      response.url().startsWith(issuer) &&
      response.status() === 200 &&
      /^text\/html/.test(response.headers()['content-type'] ?? '')
    ) {
      shown.push(response.url());
    }
  };
  page.on('response', listener);
  try {
    await action();
  } finally {
    page.off('response', listener);
  }
  return shown;
}

/** A new browser context and page, closed after `body` runs. */
export async function withPage(options, body) {
  const context = await newContext(options);
  try {
    return await body(await context.newPage(), context);
  } finally {
    await context.close();
  }
}
