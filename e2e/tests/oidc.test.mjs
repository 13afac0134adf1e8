// The OpenID Provider as a relying party and a person see it: openid-client
// (panva) on one side, the login, consent and logout pages in headless
// Chromium on the other, and a loopback callback server as the redirect URI.
//
// Skipped as a whole while `{issuer}/.well-known/openid-configuration`
// answers 404; they run by themselves once the provider is built.
import {
  createUser,
  escapeHtml,
  issuer,
  oidcMissing,
  startCallbackServer,
} from '../lib/portcullis.mjs';
import {
  AUTHORIZE,
  authorizationRequest,
  authorize,
  closeBrowser,
  exchange,
  logIn,
  logInAccepted,
  loginForm,
  nextResponse,
  pagesShownDuring,
  redirectsTo,
  rejectsWith,
  relyingParty as registerRelyingParty,
  submitButtons,
  withPage,
} from '../lib/relying-party.mjs';

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';

const skip = await oidcMissing();
let callbacks;

/** A relying party of this file's callback server. */
function relyingParty(fields = {}) {
  return registerRelyingParty(callbacks, fields);
}

/** A test of the provider: skipped (each one, so that each is listed) until it is built. */
function oidcTest(name, body) {
  return test(name, { skip, timeout: 60_000 }, body);
}

describe('OpenID Connect provider', () => {
  before(async () => {
    if (!skip) {
      callbacks = await startCallbackServer();
    }
  });
  after(async () => {
    await closeBrowser();
    await callbacks?.close();
  });

  oidcTest('discovery names the endpoints', async () => {
    const rp = await relyingParty();
    const meta = rp.config.serverMetadata();
    assert.equal(meta.issuer, issuer);
    assert.equal(meta.authorization_endpoint, AUTHORIZE);
    assert.equal(meta.token_endpoint, `${issuer}/oauth2/token`);
    assert.equal(meta.userinfo_endpoint, `${issuer}/oauth2/userinfo`);
    assert.equal(meta.end_session_endpoint, `${issuer}/oauth2/logout`);
    assert.equal(meta.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.ok(meta.response_types_supported.includes('code'));
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'));
    assert.ok(meta.id_token_signing_alg_values_supported.includes('RS256'));
    assert.ok(meta.subject_types_supported.length > 0);
    for (const scope of ['openid', 'profile', 'email', 'offline_access']) {
      assert.ok(meta.scopes_supported?.includes(scope), scope);
    }
  });

  oidcTest('authorization code with PKCE: login page, ID token, userinfo, introspection, revocation', async () => {
    const user = await createUser();
    const rp = await relyingParty();
    await withPage({}, async (page) => {
      const auth = await authorize(page, rp, { user });
      const tokens = await exchange(rp, auth);
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(typeof tokens.refresh_token, 'string');

      const claims = tokens.claims();
      assert.equal(claims.iss, issuer);
      assert.ok(typeof claims.sub === 'string' && claims.sub.length > 0);
      assert.ok([claims.aud].flat().includes(rp.created.client_id));
      assert.equal(claims.nonce, auth.nonce);
      const now = Date.now() / 1000;
      assert.equal(typeof claims.auth_time, 'number');
      assert.ok(claims.auth_time <= now + 5 && claims.auth_time > now - 300, 'auth_time is now');
      assert.ok(typeof claims.sid === 'string' && claims.sid.length > 0, 'sid');

      const info = await client.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
      assert.equal(info.sub, claims.sub);
      assert.equal(info.email, user.email);
      assert.equal(info.name, user.name);

      const active = await client.tokenIntrospection(rp.config, tokens.access_token);
      assert.equal(active.active, true);
      assert.equal(active.sub, claims.sub);
      assert.equal(active.client_id, rp.created.client_id);
      assert.ok(active.scope.split(' ').includes('openid'));

      await client.tokenRevocation(rp.config, tokens.access_token);
      assert.equal((await client.tokenIntrospection(rp.config, tokens.access_token)).active, false);
      await assert.rejects(client.fetchUserInfo(rp.config, tokens.access_token, claims.sub), (err) => {
        assert.equal(err.status, 401, `${err.name}: ${err.message}`);
        return true;
      });

      // A code is good once (RFC 6749 §4.1.2).
      await rejectsWith(exchange(rp, auth), 'invalid_grant');
    });
  });

  oidcTest('refresh tokens rotate: the spent one is invalid_grant', async () => {
    const user = await createUser();
    const rp = await relyingParty();
    await withPage({}, async (page) => {
      const tokens = await exchange(rp, await authorize(page, rp, { user }));
      const sub = tokens.claims().sub;
      const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token);
      assert.equal(typeof refreshed.refresh_token, 'string');
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
      assert.notEqual(refreshed.access_token, tokens.access_token);
      const info = await client.fetchUserInfo(rp.config, refreshed.access_token, sub);
      assert.equal(info.email, user.email);
      const active = await client.tokenIntrospection(rp.config, refreshed.access_token);
      assert.equal(active.active, true);
      assert.equal(active.sub, sub);

      await rejectsWith(client.refreshTokenGrant(rp.config, tokens.refresh_token), 'invalid_grant');
    });
  });

  oidcTest('RP-initiated logout ends the session and returns to the post-logout URI with state', async () => {
    const user = await createUser();
    const rp = await relyingParty();
    await withPage({}, async (page) => {
      const tokens = await exchange(rp, await authorize(page, rp, { user }));
      const state = client.randomState();
      const endSession = client.buildEndSessionUrl(rp.config, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: rp.postLogoutUri,
        state,
      });
      assert.ok(endSession.href.startsWith(`${issuer}/oauth2/logout?`));
      await page.goto(endSession.href);
      if (!page.url().startsWith(rp.postLogoutUri)) {
        // A confirmation page: confirm.
        const form = page.locator('form[method="post" i]').first();
        await form.waitFor();
        const buttons = submitButtons(form);
        const confirm = buttons.filter({ hasText: /log\s*out|sign\s*out|confirm|yes/i });
        await ((await confirm.count()) > 0 ? confirm : buttons).first().click();
      }
      await page.waitForURL((u) => u.href.startsWith(rp.postLogoutUri), { waitUntil: 'commit' });
      assert.equal(new URL(page.url()).searchParams.get('state'), state);

      // The single sign-on session is over: the next request shows the login page.
      const request = await authorizationRequest(rp);
      await page.goto(request.url.href);
      await loginForm(page);
    });
  });

  oidcTest('a public client with PKCE (no secret)', async () => {
    const user = await createUser();
    const rp = await relyingParty({ client_type: 'public' });
    assert.equal(rp.created.token_endpoint_auth_method, 'none');
    assert.equal(rp.created.client_secret, undefined);
    await withPage({}, async (page) => {
      // The wrong code_verifier is refused (RFC 7636 §4.6) ...
      const first = await authorize(page, rp, { user });
      await rejectsWith(
        client.authorizationCodeGrant(rp.config, first.callbackUrl, {
          pkceCodeVerifier: client.randomPKCECodeVerifier(),
          expectedState: first.state,
          expectedNonce: first.nonce,
          idTokenExpected: true,
        }),
        'invalid_grant',
      );
      // ... and the right one gets tokens (signed in already: no login page).
      const tokens = await exchange(rp, await authorize(page, rp, { login: false }));
      const claims = tokens.claims();
      assert.ok([claims.aud].flat().includes(rp.created.client_id));
      const info = await client.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
      assert.equal(info.email, user.email);
    });
  });

  oidcTest('single sign-on: a second client gets a code without the login page; prompt=login asks again', async () => {
    const user = await createUser();
    const first = await relyingParty();
    const second = await relyingParty();
    await withPage({}, async (page) => {
      const one = await exchange(first, await authorize(page, first, { user }));

      let auth;
      const shown = await pagesShownDuring(page, async () => {
        auth = await authorize(page, second, { login: false });
      });
      assert.deepEqual(shown, [], 'no page of the provider was shown');
      const two = await exchange(second, auth);
      assert.equal(two.claims().sub, one.claims().sub);
      assert.equal(two.claims().sid, one.claims().sid);

      const again = await exchange(
        second,
        await authorize(page, second, { user, extra: { prompt: 'login' } }),
      );
      assert.equal(again.claims().sub, one.claims().sub);
      assert.ok(again.claims().auth_time >= one.claims().auth_time);
    });
  });

  oidcTest('consent: allow gives a code, deny is access_denied', async () => {
    const rp = await relyingParty({ require_consent: true });
    await withPage({}, async (page) => {
      const tokens = await exchange(rp, await authorize(page, rp, { user: await createUser(), consent: 'allow' }));
      assert.equal(typeof tokens.access_token, 'string');
    });
    await withPage({}, async (page) => {
      const denied = await authorize(page, rp, { user: await createUser(), consent: 'deny' });
      assert.equal(denied.callbackUrl.searchParams.get('error'), 'access_denied');
      assert.equal(denied.callbackUrl.searchParams.get('code'), null);
      await rejectsWith(exchange(rp, denied), 'access_denied');
    });
  });

  oidcTest('an unregistered redirect_uri gets an error page, not a redirect', async () => {
    const rp = await relyingParty();
    const unregistered = callbacks.url('/not-registered');
    const request = await authorizationRequest({ ...rp, redirectUri: unregistered });
    await withPage({}, async (page) => {
      const response = await page.goto(request.url.href);
      assert.equal(response.status(), 400);
      assert.match(response.headers()['content-type'] ?? '', /^text\/html/);
      assert.equal(response.request().redirectedFrom(), null);
      assert.ok(page.url().startsWith(AUTHORIZE), `still at the provider: ${page.url()}`);
      assert.equal(await page.locator('input[name="password"]').count(), 0, 'no login form');
    });
    assert.ok(!callbacks.requests.some((path) => path.startsWith('/not-registered')));
  });

  oidcTest('the login page forbids framing and works without JavaScript', async () => {
    const user = await createUser();
    const rp = await relyingParty();
    await withPage({ javaScriptEnabled: false }, async (page) => {
      const request = await authorizationRequest(rp);
      const response = await page.goto(request.url.href);
      assert.equal(response.status(), 200);
      assert.match(response.headers()['content-type'] ?? '', /^text\/html/);
      assert.match(response.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      await loginForm(page);
      // The whole flow, with scripts off.
      const tokens = await exchange(rp, await authorize(page, rp, { user }));
      assert.equal(tokens.claims().nonce !== undefined, true);
    });
  });

  oidcTest('a wrong password shows the login page again', async () => {
    const user = await createUser();
    const rp = await relyingParty();
    await withPage({}, async (page) => {
      const request = await authorizationRequest(rp);
      await page.goto(request.url.href);
      await logIn(page, { ...user, password: `${user.password}-wrong` });
      await page.waitForLoadState();
      assert.ok(!page.url().startsWith(rp.redirectUri), 'no redirect to the client');
      await loginForm(page);
      // The right password on the page shown then completes the request.
      const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
      await logInAccepted(page, user);
      assert.equal((await redirected).status(), 303);
      await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { waitUntil: 'commit' });
      const tokens = await exchange(rp, { ...request, callbackUrl: new URL(page.url()) });
      assert.equal(typeof tokens.id_token, 'string');
    });
  });

  oidcTest('the authorization endpoint accepts POST', async () => {
    const user = await createUser();
    const rp = await relyingParty();
    const request = await authorizationRequest(rp);
    // A page of the client's own origin posting the request (OIDC Core §3.1.2.1).
    const inputs = [...request.url.searchParams]
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('');
    callbacks.serve('/start', `<form method="post" action="${AUTHORIZE}">${inputs}<button>Sign in</button></form>`);
    await withPage({}, async (page) => {
      await page.goto(callbacks.url('/start'));
      const loginPage = nextResponse(page, (r) => r.url().startsWith(AUTHORIZE));
      await page.locator('button').click();
      assert.equal((await loginPage).request().method(), 'POST');
      const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
      await logInAccepted(page, user);
      assert.equal((await redirected).status(), 303);
      await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { waitUntil: 'commit' });
      const tokens = await exchange(rp, { ...request, callbackUrl: new URL(page.url()) });
      assert.equal(tokens.claims().nonce, request.nonce);
    });
  });
});
