// Node.js 18 (Debian bookworm's `nodejs`) defines neither the global
// `CryptoKey` nor, without a flag, the global `crypto` that openid-client and
// jose use; Node.js 19 and newer define both. Imported before them.
import { webcrypto } from 'node:crypto';

for (const [name, value] of [
  ['crypto', webcrypto],
  ['CryptoKey', webcrypto.CryptoKey],
]) {
  if (globalThis[name] === undefined || (name === 'crypto' && globalThis.crypto.subtle === undefined)) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
}
