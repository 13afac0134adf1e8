// oidc-provider (panva) configured like a Portcullis realm, for
// `cargo xtask bench oidc`: one confidential client authenticating with
// client_secret_basic, the client_credentials grant, access tokens signed
// with the realm's algorithm (EdDSA, Ed25519) and living 15 minutes, the
// provider's in-memory storage, and introspection.
//
//   node provider.js --port PORT --client-id ID --client-secret SECRET
//                    [--alg EdDSA] [--access-token-format jwt|opaque]
//
// Listens on 127.0.0.1:PORT with the token endpoint at /oauth2/token and
// introspection at /oauth2/introspect (the paths of a Portcullis realm,
// without the /realms/{realm} prefix), and prints `listening on ADDR` once
// it accepts connections.
//
// oidc-provider refuses to introspect structured (JWT) access tokens: its
// introspection endpoint answers `unsupported_token_type` for them, by
// design. `--access-token-format opaque` issues opaque access tokens
// instead, stored in memory, which it does introspect; the benchmark
// measures introspection that way.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

function options(argv) {
  const opts = { alg: 'EdDSA', accessTokenFormat: 'jwt' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--port': opts.port = Number(value); break;
      case '--client-id': opts.clientId = value; break;
      case '--client-secret': opts.clientSecret = value; break;
      case '--alg': opts.alg = value; break;
      case '--access-token-format': opts.accessTokenFormat = value; break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  if (!Number.isInteger(opts.port) || !opts.clientId || !opts.clientSecret) {
    throw new Error('usage: provider.js --port PORT --client-id ID --client-secret SECRET [--alg EdDSA] [--access-token-format jwt|opaque]');
  }
  if (!['jwt', 'opaque'].includes(opts.accessTokenFormat)) {
    throw new Error('--access-token-format must be jwt or opaque');
  }
  return opts;
}

// A signing key for `alg`, as a private JWK.
function signingKey(alg) {
  const generate = {
    EdDSA: () => generateKeyPairSync('ed25519'),
    ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  }[alg];
  if (!generate) throw new Error(`unsupported --alg ${alg}`);
  const { privateKey } = generate();
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: 'bench' };
}

const opts = options(process.argv.slice(2));
const issuer = `http://127.0.0.1:${opts.port}`;
const SCOPE = 'api:read';
// Access tokens for the client itself, as Portcullis issues them without a
// `resource` parameter (aud = client_id); every token goes to this one
// resource server.
const RESOURCE = `urn:portcullis-bench:${opts.clientId}`;
// Portcullis's default access token lifetime.
const ACCESS_TOKEN_TTL = 15 * 60;

const provider = new Provider(issuer, {
  clients: [{
    client_id: opts.clientId,
    client_secret: opts.clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: SCOPE,
  }],
  // The key store holds only the access tokens' key: clients default to it.
  clientDefaults: { id_token_signed_response_alg: opts.alg },
  jwks: { keys: [signingKey(opts.alg)] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', SCOPE],
  routes: {
    token: '/oauth2/token',
    introspection: '/oauth2/introspect',
    revocation: '/oauth2/revoke',
    jwks: '/.well-known/jwks.json',
  },
  ttl: {
    ClientCredentials: ACCESS_TOKEN_TTL,
    AccessToken: ACCESS_TOKEN_TTL,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: SCOPE,
        audience: opts.clientId,
        accessTokenTTL: ACCESS_TOKEN_TTL,
        accessTokenFormat: opts.accessTokenFormat,
        jwt: { sign: { alg: opts.alg } },
      }),
    },
  },
});

provider.on('server_error', (ctx, err) => {
  console.error('server_error', err);
});

const server = createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(opts.port, '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`listening on ${address}:${port} (access tokens: ${opts.accessTokenFormat}, ${opts.alg})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
