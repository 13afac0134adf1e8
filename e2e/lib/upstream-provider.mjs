// An upstream OpenID Provider nobody here wrote, for the federation suite:
// Node's oidc-provider (panva) on a free loopback port, with one
// confidential client for Portcullis and its built-in development login and
// consent pages (`features.devInteractions`: any login name is accepted,
// with any password, and becomes the account id).
//
// Each account's claims come from its login name: `sub` is the login,
// `email` the login too when it is an address (else `{login}@upstream.test`),
// `email_verified` true, `name` "Upstream {login}". The claims of the
// requested scopes go into the ID token as well (`conformIdTokenClaims:
// false`), as many providers do, so Portcullis reads the address there.
//
// Two steps, because each side needs the other's URL: `listen()` binds the
// port (the issuer is `http://127.0.0.1:{port}`, exactly as discovery
// names it), then `start(client)` builds the provider with the redirect URI
// Portcullis gave when the identity provider was registered. Requests are
// recorded (`requests`: method, path and query of each), and the provider's
// own server errors are kept in `errors`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import { createServer } from 'node:http';

const LOOPBACK = '127.0.0.1';

/**
 * Why oidc-provider cannot run on this Node.js (it calls `crypto.hash`, new
 * in Node.js 20.12), or `false`.
 */
export const upstreamMissing =
  typeof nodeCrypto.hash === 'function'
    ? false
    : `oidc-provider needs Node.js 20.12 or newer (crypto.hash); this is ${process.version}`;

/** The claims of the account `login`. */
export function accountClaims(login) {
  return {
    sub: login,
    email: login.includes('@') ? login : `${login}@upstream.test`,
    email_verified: true,
    name: `Upstream ${login}`,
  };
}

/** Binds a free loopback port; the provider answers once `start` ran. */
export async function listen() {
  const requests = [];
  const errors = [];
  let handler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('the upstream provider is not started yet\n');
  };
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const issuer = `http://${LOOPBACK}:${server.address().port}`;

  /**
   * Builds the provider with one client: `client_secret_basic`, the
   * authorization code grant with PKCE (required), `redirectUri` only.
   */
  async function start({ clientId, clientSecret, redirectUri }) {
    const { default: Provider } = await import('oidc-provider');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['authorization_code'],
          response_types: ['code'],
          redirect_uris: [redirectUri],
          id_token_signed_response_alg: 'RS256',
        },
      ],
      jwks: {
        keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'e2e-upstream' }],
      },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      scopes: ['openid', 'email', 'profile'],
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['name'],
      },
      conformIdTokenClaims: false,
      // Fixed lifetimes (seconds), short as a test needs them.
      ttl: {
        AccessToken: 600,
        AuthorizationCode: 60,
        Grant: 3600,
        IdToken: 600,
        Interaction: 600,
        Session: 3600,
      },
      pkce: { required: () => true },
      async findAccount(_ctx, id) {
        return {
          accountId: id,
          async claims() {
            return accountClaims(id);
          },
        };
      },
      features: {
        devInteractions: { enabled: true },
      },
    });
    provider.on('server_error', (_ctx, err) => {
      errors.push(err);
      console.error('upstream provider: server_error', err);
    });
    const callback = provider.callback();
    handler = (req, res) => {
      const url = new URL(req.url, issuer);
      requests.push({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization?.split(' ')[0],
      });
      callback(req, res);
    };
    return provider;
  }

  return {
    issuer,
    requests,
    errors,
    start,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
