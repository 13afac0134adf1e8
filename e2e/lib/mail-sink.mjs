// The end-to-end suites' mail sink: a real SMTP server on loopback (plain
// text, no TLS, no authentication: smtp-server from the Nodemailer project)
// that accepts every message, parses it with mailparser and keeps it in
// memory, and a small HTTP inbox on loopback where the suites read what
// arrived (`lib/mail.mjs`).
//
// This is a program, not a module the suites import: `cargo xtask e2e`
// runs it (`node lib/mail-sink.mjs READY_FILE`) before it starts the
// server, and stops it after the suites. One process owns the sink because
// the server has one SMTP URL for the whole run while `node --test` runs
// each test file in a process of its own, in parallel: a sink inside a
// test file would exist only while that file runs, and two files could not
// both listen on the server's port.
//
// smtp-server and mailparser declare Node.js 20 in `engines`; the sink
// runs on Debian bookworm's Node.js 18.20 too, which the suites support.
//
// Both servers listen on free ports chosen by the system; once they do,
// the sink writes `{"smtp_port": N, "http_port": N}` to READY_FILE (to a
// temporary name first, then renamed, so a reader never sees half of it).
//
// The inbox: `GET /messages?to=ADDRESS&after=ID&wait=MS` answers the
// messages with an id above `after` (0 when absent) whose envelope names
// `to` as a recipient (any when absent), oldest first, as
// `{"messages": [{id, envelope_from, envelope_to, from, to, subject, text,
// html}]}`. With `wait`, it answers as soon as there is at least one such
// message, or with none after `wait` milliseconds (30 s at most), so a
// test waits for a mail without polling.
import { createServer } from 'node:http';
import { rename, writeFile } from 'node:fs/promises';
import { once } from 'node:events';

import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const LOOPBACK = '127.0.0.1';
/** Largest message accepted (Portcullis's mails are a few KiB). */
const MAX_MESSAGE = 1024 * 1024;
/** Longest wait a request to the inbox may ask for. */
const MAX_WAIT_MS = 30_000;

const readyFile = process.argv[2];
if (!readyFile) {
  console.error('usage: node lib/mail-sink.mjs READY_FILE');
  process.exit(2);
}

/** Received messages, oldest first; ids count from 1. */
const messages = [];
/** Inbox requests waiting for a message: functions called on each arrival. */
const waiters = new Set();

function lowerAddress(address) {
  return String(address ?? '').trim().toLowerCase();
}

function firstAddress(header) {
  return lowerAddress(header?.value?.[0]?.address);
}

async function keep(envelope, stream) {
  const parsed = await simpleParser(stream);
  const message = {
    id: messages.length + 1,
    envelope_from: lowerAddress(envelope.mailFrom && envelope.mailFrom.address),
    envelope_to: envelope.rcptTo.map((r) => lowerAddress(r.address)),
    from: firstAddress(parsed.from),
    to: firstAddress(parsed.to),
    subject: parsed.subject ?? '',
    text: parsed.text ?? '',
    html: typeof parsed.html === 'string' ? parsed.html : '',
  };
  messages.push(message);
  console.log(`mail-sink: #${message.id} to ${message.envelope_to.join(', ')}: ${message.subject}`);
  for (const wake of waiters) {
    wake();
  }
}

const smtp = new SMTPServer({
  secure: false,
  // Portcullis talks plain SMTP to a loopback sink (`smtp://127.0.0.1:PORT`).
  disabledCommands: ['STARTTLS', 'AUTH'],
  authOptional: true,
  disableReverseLookup: true,
  size: MAX_MESSAGE,
  banner: 'Portcullis end-to-end mail sink',
  logger: false,
  onData(stream, session, callback) {
    keep(session.envelope, stream).then(
      () => callback(),
      (err) => {
        console.error(`mail-sink: cannot read a message: ${err.message}`);
        stream.resume();
        callback(err);
      },
    );
  },
});
smtp.on('error', (err) => console.error(`mail-sink: SMTP: ${err.message}`));

function matching(query) {
  const to = query.has('to') ? lowerAddress(query.get('to')) : undefined;
  const after = Number(query.get('after') ?? 0);
  return messages.filter((m) => m.id > after && (to === undefined || m.envelope_to.includes(to)));
}

const inbox = createServer((req, res) => {
  const url = new URL(req.url, `http://${LOOPBACK}`);
  if (req.method !== 'GET' || url.pathname !== '/messages') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('GET /messages?to=ADDRESS&after=ID&wait=MS\n');
    return;
  }
  const answer = (found) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ messages: found }));
  };
  const found = matching(url.searchParams);
  const wait = Math.min(Math.max(Number(url.searchParams.get('wait') ?? 0) || 0, 0), MAX_WAIT_MS);
  if (found.length > 0 || wait === 0) {
    answer(found);
    return;
  }
  const done = () => {
    clearTimeout(timer);
    waiters.delete(wake);
    req.off('close', done);
  };
  const wake = () => {
    const arrived = matching(url.searchParams);
    if (arrived.length > 0) {
      done();
      answer(arrived);
    }
  };
  const timer = setTimeout(() => {
    done();
    answer([]);
  }, wait);
  waiters.add(wake);
  req.on('close', done);
});

const smtpAddress = await new Promise((resolve, reject) => {
  smtp.server.once('error', reject);
  smtp.listen(0, LOOPBACK, () => resolve(smtp.server.address()));
});
inbox.listen(0, LOOPBACK);
await once(inbox, 'listening');
const inboxAddress = inbox.address();

const ready = JSON.stringify({ smtp_port: smtpAddress.port, http_port: inboxAddress.port });
await writeFile(`${readyFile}.tmp`, ready);
await rename(`${readyFile}.tmp`, readyFile);
console.log(`mail-sink: SMTP on ${LOOPBACK}:${smtpAddress.port}, inbox on http://${LOOPBACK}:${inboxAddress.port}`);

function stop() {
  inbox.closeAllConnections();
  inbox.close();
  smtp.close(() => process.exit(0));
  // Connections the server holds open do not keep the sink alive.
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
