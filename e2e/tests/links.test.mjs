// The links Portcullis mails, followed as a person does: the server sends
// them over SMTP to the sink `cargo xtask e2e` runs (`lib/mail-sink.mjs`),
// the test reads the message there, and headless Chromium opens the link
// and uses the page behind it. A magic link asked for on the login page
// signs in through a real relying party (openid-client); a reset link sets
// the password the login page then accepts; a verification link verifies
// a newly registered address. Opening a link never spends it: only the
// page's button (its POST) does.
import { createUser, env, oidcMissing, randomHex, startCallbackServer } from '../lib/portcullis.mjs';
import { mailMissing, mailedLink } from '../lib/mail.mjs';
import {
  authorizationRequest,
  authorize,
  closeBrowser,
  exchange,
  loginForm,
  newContext,
  nextResponse,
  redirectsTo,
  relyingParty,
  submitButtons,
  withPage,
} from '../lib/relying-party.mjs';

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

const noMail = mailMissing;
const noOidc = noMail || (await oidcMissing());
/** The From address `cargo xtask e2e` gives the server (`PORTCULLIS_SMTP_FROM`). */
const FROM = 'noreply@portcullis.test';
const MAGIC_COOKIE = 'portcullis_magic';
let callbacks;

/** A call to the realm's REST API, with a user's bearer token if given. */
async function api(method, path, { token, body } = {}) {
  const headers = {};
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${env.url}/api/v1/realms/${env.realm}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** A user's access token from a password login through the API. */
async function accessToken(email, password) {
  const login = await api('POST', '/auth/login', { body: { email, password } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return login.body.access_token;
}

/**
 * Waits for the page to show the heading `title` (after a form's POST the
 * new document may not be there yet when its response is), and checks it.
 */
async function expectHeading(page, title, what = 'the page') {
  const h1 = page.locator('h1', { hasText: title });
  await h1.waitFor();
  assert.equal((await h1.textContent()).trim(), title, what);
}

/**
 * Opens `link` in `page` twice, as a mail scanner and then the person
 * would: both loads show the same page (nothing spent), with `title`.
 */
async function openTwice(page, link, title) {
  for (const load of ['first', 'second']) {
    const response = await page.goto(link);
    assert.equal(response.status(), 200, `the ${load} load of the link shows its page`);
    await expectHeading(page, title, `the ${load} load`);
  }
}

/** Clicks the page's submit button `name`; the answer to its POST. */
async function submit(page, name) {
  const answered = nextResponse(page, (r) => r.request().method() === 'POST');
  await page.getByRole('button', { name, exact: true }).click();
  return answered;
}

describe('mailed links in headless Chromium', { timeout: 90_000 }, () => {
  before(async () => {
    callbacks = await startCallbackServer();
  });
  after(async () => {
    await closeBrowser();
    await callbacks?.close();
  });

  test('magic link: asked for on the login page, it signs in to the relying party in that browser only', { skip: noOidc }, async () => {
    const user = await createUser();
    const rp = await relyingParty(callbacks);
    const context = await newContext();
    try {
      const page = await context.newPage();
      const request = await authorizationRequest(rp);
      await page.goto(request.url.href);
      const form = await loginForm(page);
      await form.locator('input[name="email"]').fill(user.email);
      const ask = submitButtons(form).filter({ hasText: 'E-mail me a sign-in link' });
      assert.equal(await ask.getAttribute('formaction'), `/realms/${env.realm}/login/magic-link`);
      const asked = await submit(page, 'E-mail me a sign-in link');
      assert.equal(asked.status(), 200);
      await expectHeading(page, 'Check your e-mail');
      const attempt = (await context.cookies()).find((c) => c.name === MAGIC_COOKIE);
      assert.ok(attempt, `the attempt is kept in ${MAGIC_COOKIE}`);
      assert.equal(attempt.httpOnly, true, `${MAGIC_COOKIE} is HttpOnly`);

      const { message, link } = await mailedLink(user.email, 'magic-link');
      assert.equal(message.from, FROM);

      // Another browser (no attempt cookie) gets nothing from the link,
      // which the mail's HTML part, as the browser reads it, has too.
      await withPage({}, async (other) => {
        await other.setContent(message.html);
        assert.equal(await other.locator('a[href]').first().getAttribute('href'), link);
        const response = await other.goto(link);
        assert.equal(response.status(), 400);
        await expectHeading(other, 'Open this link where you asked for it');
        assert.equal(await other.getByRole('button', { name: 'Sign in' }).count(), 0);
      });

      await openTwice(page, link, 'Sign in');
      const redirected = nextResponse(page, (r) => redirectsTo(r, rp.redirectUri));
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      const redirect = await redirected;
      assert.equal(redirect.status(), 303, 'the sign-in goes on with the authorization request');
      await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { waitUntil: 'commit' });
      const callbackUrl = new URL(page.url());
      assert.equal(callbackUrl.searchParams.get('state'), request.state);
      const tokens = await exchange(rp, { ...request, callbackUrl });
      const claims = tokens.claims();
      assert.deepEqual(claims.amr, ['otp']);
      assert.equal(claims.sub, user.id);
      assert.equal(claims.email, user.email);
      const cookies = await context.cookies();
      assert.ok(!cookies.some((c) => c.name === MAGIC_COOKIE), 'the attempt cookie is cleared');
      assert.ok(cookies.some((c) => c.name === 'portcullis_sso'), 'a single sign-on session');

      // The link is spent: opened again in this browser it signs in no
      // more, and with the attempt cookie put back it is not valid.
      const again = await page.goto(link);
      assert.equal(again.status(), 400);
      await expectHeading(page, 'Open this link where you asked for it');
      await context.addCookies([attempt]);
      const spent = await page.goto(link);
      assert.equal(spent.status(), 400);
      await expectHeading(page, 'This link is not valid');
      assert.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 0);
    } finally {
      await context.close();
    }
  });

  test('password reset: the mailed link sets a new password, which the login page accepts', { skip: noOidc }, async () => {
    const user = await createUser();
    const asked = await api('POST', '/auth/forgot-password', { body: { email: user.email } });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const { message, link } = await mailedLink(user.email, 'reset-password');
    assert.equal(message.from, FROM);
    const newPassword = `Reset-${randomHex(10)}-Pw!`;

    const rp = await relyingParty(callbacks);
    await withPage({}, async (page) => {
      await openTwice(page, link, 'Choose a new password');
      const fresh = page.locator('input[name="new_password"]');
      const repeat = page.locator('input[name="confirm_password"]');
      assert.equal(await fresh.getAttribute('autocomplete'), 'new-password');
      assert.equal(await repeat.getAttribute('autocomplete'), 'new-password');

      // Two different passwords: the form again, the link still usable.
      await fresh.fill(newPassword);
      await repeat.fill(`${newPassword}x`);
      const differ = await submit(page, 'Change the password');
      assert.equal(differ.status(), 422);
      assert.match(await page.getByRole('alert').textContent(), /differ/);
      await expectHeading(page, 'Choose a new password');

      await page.locator('input[name="new_password"]').fill(newPassword);
      await page.locator('input[name="confirm_password"]').fill(newPassword);
      const changed = await submit(page, 'Change the password');
      assert.equal(changed.status(), 200);
      await expectHeading(page, 'Password changed');

      const spent = await page.goto(link);
      assert.equal(spent.status(), 400);
      await expectHeading(page, 'This link is not valid');

      // The login page of an authorization request takes the new password.
      const tokens = await exchange(rp, await authorize(page, rp, { user: { ...user, password: newPassword } }));
      assert.deepEqual(tokens.claims().amr, ['pwd']);
      assert.equal(tokens.claims().sub, user.id);
    });
    const old = await api('POST', '/auth/login', { body: { email: user.email, password: user.password } });
    assert.equal(old.status, 401, 'the old password no longer works');
  });

  test('email verification: the link mailed at registration verifies the address', { skip: noMail }, async () => {
    const tag = randomHex(6);
    const email = `e2e-signup-${tag}@example.test`;
    const password = `Signup-${randomHex(10)}-Pw!`;
    const registered = await api('POST', '/auth/register', {
      body: { email, password, name: `E2E Signup ${tag}` },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal(registered.body.email_verified, false);
    const { message, link } = await mailedLink(email, 'verify-email');
    assert.equal(message.from, FROM);
    assert.equal(message.to, email);

    const token = await accessToken(email, password);
    const before = await api('GET', '/auth/me', { token });
    assert.equal(before.status, 200);
    assert.equal(before.body.email_verified, false);

    await withPage({}, async (page) => {
      await openTwice(page, link, 'Verify your e-mail address');
      assert.equal((await api('GET', '/auth/me', { token })).body.email_verified, false, 'opening verifies nothing');
      const verified = await submit(page, 'Verify my address');
      assert.equal(verified.status(), 200);
      await expectHeading(page, 'Address verified');
      assert.ok((await page.locator('body').textContent()).includes(email));

      const spent = await page.goto(link);
      assert.equal(spent.status(), 400);
      await expectHeading(page, 'This link is not valid');
    });
    const me = await api('GET', '/auth/me', { token });
    assert.equal(me.status, 200);
    assert.equal(me.body.email_verified, true);
  });
});
