// The mail the server under test sent, read from the sink `cargo xtask e2e`
// runs beside it (`lib/mail-sink.mjs`, whose HTTP inbox is
// `PORTCULLIS_E2E_MAIL_URL`): waiting for a message, and the links in it.
import { env } from './portcullis.mjs';

/** How long a test waits for a mail by default. */
export const MAIL_TIMEOUT = 15_000;

/**
 * The sink's inbox, or a reason to skip the tests that need mail when the
 * suites run without one (not under `cargo xtask e2e`), else `false`.
 */
export const mailUrl = process.env.PORTCULLIS_E2E_MAIL_URL?.replace(/\/+$/, '');
export const mailMissing = mailUrl
  ? false
  : 'no mail sink: PORTCULLIS_E2E_MAIL_URL is not set (`cargo xtask e2e` sets it)';

/**
 * The first message to `to` with an id above `after` for which `match`
 * holds, waiting up to `timeout` ms for it to arrive. Each message is
 * `{ id, envelope_from, envelope_to, from, to, subject, text, html }`.
 */
export async function nextMail(to, { after = 0, match = () => true, timeout = MAIL_TIMEOUT } = {}) {
  const deadline = Date.now() + timeout;
  let cursor = after;
  const seen = [];
  for (;;) {
    const wait = Math.max(deadline - Date.now(), 0);
    const query = new URLSearchParams({ to, after: String(cursor), wait: String(wait) });
    const response = await fetch(`${mailUrl}/messages?${query}`);
    if (response.status !== 200) {
      throw new Error(`the mail sink answered ${response.status}: ${await response.text()}`);
    }
    const { messages } = await response.json();
    for (const message of messages) {
      if (match(message)) {
        return message;
      }
      seen.push(message.subject);
      cursor = Math.max(cursor, message.id);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `no matching mail to ${to} within ${timeout} ms` +
          (seen.length ? ` (other mail arrived: ${seen.map((s) => JSON.stringify(s)).join(', ')})` : ''),
      );
    }
  }
}

/**
 * The link to the realm's page `path` (such as `reset-password`) in the
 * text part of `message`, or undefined.
 */
export function linkIn(message, path) {
  const prefix = `${env.url}/realms/${env.realm}/${path}?`;
  const urls = message.text.match(/https?:\/\/[^\s<>"]+/g) ?? [];
  return urls.find((u) => u.startsWith(prefix));
}

/** The first mail to `to` after `after` holding a link to `path`, and the link. */
export async function mailedLink(to, path, options = {}) {
  const message = await nextMail(to, { ...options, match: (m) => linkIn(m, path) !== undefined });
  return { message, link: linkIn(message, path) };
}
