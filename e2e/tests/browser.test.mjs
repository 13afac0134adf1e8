// Headless Chromium against pages the server serves today: proves the
// browser harness (Debian's Chromium driven by playwright-core) works.
import { env, launchBrowser } from '../lib/portcullis.mjs';

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

describe('pages in headless Chromium', { timeout: 60_000 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('the API reference at /docs renders, without JavaScript too', async () => {
    for (const javaScriptEnabled of [true, false]) {
      const context = await browser.newContext({ javaScriptEnabled });
      try {
        const page = await context.newPage();
        const response = await page.goto(`${env.url}/docs`);
        assert.equal(response.status(), 200);
        assert.match(response.headers()['content-type'], /^text\/html/);
        assert.match(response.headers()['content-security-policy'], /frame-ancestors 'none'/);
        assert.equal(await page.title(), 'Portcullis API reference');
        assert.equal(await page.locator('h1').first().textContent(), 'Portcullis API reference');
        // A link of the page leads where it says.
        await page.locator('a[href="/openapi.json"]').first().click();
        await page.waitForURL(`${env.url}/openapi.json`);
        assert.match(await page.locator('body').textContent(), /"openapi":\s*"3\.1/);
      } finally {
        await context.close();
      }
    }
  });

  test('a JSON endpoint shows its text', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(`${env.url}/health/ready`);
      assert.equal(response.status(), 200);
      assert.equal(JSON.parse(await page.locator('body').textContent()).status, 'ok');
    } finally {
      await context.close();
    }
  });
});
