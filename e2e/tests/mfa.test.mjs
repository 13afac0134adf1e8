// Second factors as a person uses them: TOTP codes computed by otplib (an
// implementation nobody here wrote) typed into the login page's second
// step, and passkeys made by Chromium's virtual authenticator (Chrome
// DevTools Protocol, `WebAuthn.addVirtualAuthenticator`) registered through
// the REST API, then used as the second step and to sign in without a
// password.
import { createUser, env, oidcMissing, startCallbackServer } from '../lib/portcullis.mjs';
import {
  authorizationRequest,
  closeBrowser,
  exchange,
  logInAccepted,
  nextResponse,
  redirectsTo,
  relyingParty,
  withPage,
} from '../lib/relying-party.mjs';

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate } from 'otplib';

const skip = await oidcMissing();
let callbacks;

/** A call to the realm's REST API with a user's bearer token. */
async function api(method, path, token, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  const response = await fetch(`${env.url}/api/v1/realms/${env.realm}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed = text === '' ? undefined : JSON.parse(text);
  if (response.status < 200 || response.status > 299) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`);
  }
  return parsed;
}

/** The user's access token, from a one-step login. */
async function accessToken(user) {
  const answer = await api('POST', '/auth/login', undefined, {
    email: user.email,
    password: user.password,
  });
  assert.equal(typeof answer.access_token, 'string', JSON.stringify(answer));
  return answer.access_token;
}

/** The current Unix time in seconds. */
function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

/** Decoded claims of a JWT. */
function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/**
 * Starts an authorization request of `rp` in `page` and waits for the 303
 * to its redirect URI after `steps` ran; the request and where the browser
 * landed, for openid-client.
 */
async function authorizeWith(page, rp, steps, extra = {}) {
  const request = await authorizationRequest(rp, extra);
  const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
  await page.goto(request.url.href);
  await steps();
  const redirect = await redirected;
  assert.equal(redirect.status(), 303);
  await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { waitUntil: 'commit' });
  return { ...request, callbackUrl: new URL(page.url()) };
}

/** Runs `navigator.credentials.create()` in `page` with the server's options. */
function createCredential(page, options) {
  return page.evaluate(async (opts) => {
    const decode = (s) => {
      const b = atob(s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '='));
      return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
    };
    const encode = (buf) =>
      btoa(String.fromCharCode(...new Uint8Array(buf)))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '');
    const pk = { ...opts.publicKey };
    pk.challenge = decode(pk.challenge);
    pk.user = { ...pk.user, id: decode(pk.user.id) };
    pk.excludeCredentials = (pk.excludeCredentials ?? []).map((c) => ({ ...c, id: decode(c.id) }));
    const credential = await navigator.credentials.create({ publicKey: pk });
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: encode(credential.response.attestationObject),
        clientDataJSON: encode(credential.response.clientDataJSON),
      },
      extensions: {},
    };
  }, options);
}

describe('second factors', { skip }, () => {
  before(async () => {
    callbacks = await startCallbackServer();
  });
  after(async () => {
    await closeBrowser();
    await callbacks?.close();
  });

  test('TOTP: enrolled with an otplib code, then asked for on the login page', { timeout: 60_000 }, async () => {
    const user = await createUser();
    const token = await accessToken(user);
    const enrolment = await api('POST', '/mfa/totp/enable', token, {});
    assert.match(enrolment.otpauth_uri, /^otpauth:\/\/totp\//);
    assert.ok(enrolment.otpauth_uri.includes(`secret=${enrolment.secret}`));
    assert.match(enrolment.qr_code, /^data:image\/svg\+xml;base64,/);
    // The previous step's code confirms (one step of skew is accepted), so
    // the login below can use the current one: each step's code works once.
    const previous = await generate({ secret: enrolment.secret, epoch: nowSeconds() - 30 });
    const confirmed = await api('POST', '/mfa/totp/verify', token, { code: previous });
    assert.equal(confirmed.enabled, true);
    assert.equal(confirmed.backup_codes.length, 10);

    const rp = await relyingParty(callbacks);
    await withPage({}, async (page) => {
      const auth = await authorizeWith(page, rp, async () => {
        await logInAccepted(page, user);
        const code = page.locator('input[name="code"]');
        await code.waitFor();
        assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
        // No single sign-on session before the second step.
        const cookies = await page.context().cookies();
        assert.ok(!cookies.some((c) => c.name === 'portcullis_sso'));
        await code.fill('000000');
        const refused = nextResponse(page, (r) => r.request().method() === 'POST');
        await page.locator('button[type="submit"]').click();
        assert.equal((await refused).status(), 401);
        await page.locator('input[name="code"]').fill(await generate({ secret: enrolment.secret, epoch: nowSeconds() }));
        await page.locator('button[type="submit"]').click();
      });
      const tokens = await exchange(rp, auth);
      const claims = tokens.claims();
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    });
  });

  test('WebAuthn: a passkey of the virtual authenticator as second step and without a password', { timeout: 60_000 }, async () => {
    const user = await createUser();
    const token = await accessToken(user);
    const rp = await relyingParty(callbacks);
    await withPage({}, async (page, context) => {
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });
      // Registration: options from the API, the ceremony in a page of the
      // server's origin, the answer back to the API.
      await page.goto(`${env.url}/health/live`);
      const started = await api('POST', '/mfa/webauthn/register/start', token, {});
      assert.equal(started.options.publicKey.rp.id, new URL(env.url).hostname);
      const credential = await createCredential(page, started.options);
      const registered = await api('POST', '/mfa/webauthn/register/finish', token, {
        ceremony_id: started.ceremony_id,
        name: 'Virtual authenticator',
        credential,
      });
      assert.equal(registered.method.method, 'webauthn');
      assert.equal(registered.backup_codes.length, 10);
      const stored = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.equal(stored.credentials.length, 1);
      assert.equal(stored.credentials[0].isResidentCredential, true, 'a discoverable credential');

      // The second step: the page's button asks the authenticator.
      const second = await authorizeWith(page, rp, async () => {
        await logInAccepted(page, user);
        const button = page.locator('#webauthn-button');
        await button.waitFor({ state: 'visible' });
        await button.click();
      });
      const tokens = await exchange(rp, second);
      assert.deepEqual(tokens.claims().amr, ['pwd', 'hwk', 'mfa']);
      assert.ok((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount >= 1);

      // Without a password: the login page's passkey button.
      await context.clearCookies();
      const passwordless = await authorizeWith(page, rp, async () => {
        const button = page.locator('#passkey-button');
        await button.waitFor({ state: 'visible' });
        await button.click();
      });
      const again = await exchange(rp, passwordless);
      assert.deepEqual(again.claims().amr, ['hwk', 'mfa']);
      assert.equal(again.claims().sub, claimsOf(token).sub, 'the passkey named its user');
    });
  });
});
