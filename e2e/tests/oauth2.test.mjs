// OAuth 2.0 endpoints built today, through openid-client (panva) as a real
// relying party would use them: RFC 8414 discovery, the client_credentials
// grant with each client authentication method, scopes, introspection and
// revocation. Access tokens are verified against the realm's JWKS with jose.
import { adminApi, createClient, env, issuer, uniqueName } from '../lib/portcullis.mjs';

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const SCOPES = ['api.read', 'api.write'];

/** openid-client configuration by RFC 8414 discovery (the server is plain http on loopback). */
function discover(clientId, auth, metadata = undefined) {
  return client.discovery(new URL(issuer), clientId, metadata, auth, {
    execute: [client.allowInsecureRequests],
    algorithm: 'oauth2',
  });
}

/** A confidential client_credentials client authenticating with `method`. */
function serviceClient(method = 'client_secret_basic', extra = {}) {
  return createClient({
    name: uniqueName('e2e-service'),
    token_endpoint_auth_method: method,
    grant_types: ['client_credentials'],
    scopes: SCOPES,
    ...extra,
  });
}

const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));

/**
 * Verifies an RFC 9068 access token issued to the client `created` (as the
 * registry answered it) for itself; its claims.
 */
async function verifyAccessToken(token, created) {
  assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
  const { payload } = await jwtVerify(token, jwks, { issuer, typ: 'at+jwt' });
  assert.equal(payload.client_id, created.client_id);
  // The subject is the client's service account.
  assert.equal(payload.sub, created.service_account_id);
  assert.equal(typeof payload.jti, 'string');
  return payload;
}

/** Asserts that `promise` rejects with the OAuth error code `code`. */
async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.error, code, `expected ${code}, got ${err.name}: ${err.message}`);
    return true;
  });
}

describe('OAuth 2.0 authorization server (openid-client)', { timeout: 60_000 }, () => {
  test('RFC 8414 discovery lists the endpoints built', async () => {
    const created = await serviceClient();
    const config = await discover(created.client_id, client.ClientSecretBasic(created.client_secret));
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuer);
    assert.equal(meta.token_endpoint, `${issuer}/oauth2/token`);
    assert.equal(meta.introspection_endpoint, `${issuer}/oauth2/introspect`);
    assert.equal(meta.revocation_endpoint, `${issuer}/oauth2/revoke`);
    assert.equal(meta.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.ok(meta.grant_types_supported.includes('client_credentials'));
    for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt']) {
      assert.ok(meta.token_endpoint_auth_methods_supported.includes(method), method);
    }
    // The same document where RFC 8414 and most clients look: under the issuer.
    const appended = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
    assert.equal(appended.status, 200);
    assert.deepEqual(await appended.json(), JSON.parse(JSON.stringify(meta)));
  });

  for (const [method, auth] of [
    ['client_secret_basic', client.ClientSecretBasic],
    ['client_secret_post', client.ClientSecretPost],
  ]) {
    test(`client_credentials with ${method}`, async () => {
      const created = await serviceClient(method);
      assert.equal(typeof created.client_secret, 'string');
      const config = await discover(created.client_id, auth(created.client_secret));
      const tokens = await client.clientCredentialsGrant(config, { scope: 'api.read' });
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.scope, 'api.read');
      assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 86_400, `expires_in ${tokens.expires_in}`);
      const claims = await verifyAccessToken(tokens.access_token, created);
      assert.equal(claims.scope, 'api.read');
      assert.equal(claims.aud, created.client_id);
    });
  }

  test('without scope, the client gets all of its scopes; resource becomes the audience', async () => {
    const created = await serviceClient();
    const config = await discover(created.client_id, client.ClientSecretBasic(created.client_secret));
    const all = await client.clientCredentialsGrant(config);
    assert.deepEqual(all.scope.split(' ').sort(), [...SCOPES].sort());
    const resource = 'https://api.example.test/orders';
    const targeted = await client.clientCredentialsGrant(config, { scope: 'api.write', resource });
    const claims = await verifyAccessToken(targeted.access_token, created);
    assert.deepEqual([claims.aud].flat(), [resource]);
  });

  test("the client's token calls the REST API as its service account, not another resource's", async () => {
    const created = await serviceClient();
    const config = await discover(created.client_id, client.ClientSecretBasic(created.client_secret));
    const me = async (parameters) => {
      const { access_token: token } = await client.clientCredentialsGrant(config, parameters);
      const response = await fetch(`${env.url}/api/v1/realms/${env.realm}/auth/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: await response.json() };
    };
    for (const parameters of [{}, { resource: issuer }]) {
      const { status, body } = await me(parameters);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.id, created.service_account_id);
    }
    const elsewhere = await me({ resource: 'https://api.example.test/orders' });
    assert.equal(elsewhere.status, 401);
  });

  test('a scope the client may not ask for is invalid_scope', async () => {
    const created = await serviceClient();
    const config = await discover(created.client_id, client.ClientSecretBasic(created.client_secret));
    await rejectsWith(client.clientCredentialsGrant(config, { scope: 'api.admin' }), 'invalid_scope');
    // User scopes make no sense when the client acts as itself.
    await rejectsWith(client.clientCredentialsGrant(config, { scope: 'openid' }), 'invalid_scope');
  });

  test('a wrong secret is invalid_client', async () => {
    const created = await serviceClient('client_secret_post');
    const config = await discover(created.client_id, client.ClientSecretPost('not-the-secret'));
    await rejectsWith(client.clientCredentialsGrant(config), 'invalid_client');

    const basic = await serviceClient('client_secret_basic');
    const basicConfig = await discover(basic.client_id, client.ClientSecretBasic('not-the-secret'));
    // With Basic, the 401 carries a Basic challenge (RFC 6749 §5.2), which
    // openid-client reports before the body.
    const err = await client.clientCredentialsGrant(basicConfig).then(
      () => assert.fail('a wrong secret was accepted'),
      (e) => e,
    );
    assert.ok(err instanceof client.WWWAuthenticateChallengeError, `${err.name}: ${err.message}`);
    assert.equal(err.status, 401);
    assert.equal(err.cause[0]?.scheme, 'basic');
    assert.equal((await err.response.json()).error, 'invalid_client');
  });

  test('a disabled client is invalid_client', async () => {
    const created = await serviceClient();
    await adminApi('PATCH', `/clients/${encodeURIComponent(created.client_id)}`, { enabled: false });
    const config = await discover(created.client_id, client.ClientSecretPost(created.client_secret), {
      token_endpoint_auth_method: 'client_secret_post',
    });
    await rejectsWith(client.clientCredentialsGrant(config), 'invalid_client');
  });

  test('introspection of an active token, then revocation', async () => {
    const created = await serviceClient();
    const config = await discover(created.client_id, client.ClientSecretBasic(created.client_secret));
    const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'api.read' });

    const active = await client.tokenIntrospection(config, token);
    assert.equal(active.active, true);
    assert.equal(active.client_id, created.client_id);
    assert.equal(active.scope, 'api.read');
    assert.equal(active.iss, issuer);
    assert.equal(typeof active.exp, 'number');

    await client.tokenRevocation(config, token, { token_type_hint: 'access_token' });
    const revoked = await client.tokenIntrospection(config, token);
    assert.deepEqual(revoked, { active: false });
    // Revoking it again, or revoking garbage, is a quiet success (RFC 7009).
    await client.tokenRevocation(config, token);
    await client.tokenRevocation(config, 'not-a-token');
    assert.deepEqual(await client.tokenIntrospection(config, 'not-a-token'), { active: false });
  });

  test("revoking another client's token is refused", async () => {
    const owner = await serviceClient();
    const other = await serviceClient();
    const ownerConfig = await discover(owner.client_id, client.ClientSecretBasic(owner.client_secret));
    const otherConfig = await discover(other.client_id, client.ClientSecretBasic(other.client_secret));
    const { access_token: token } = await client.clientCredentialsGrant(ownerConfig);
    await rejectsWith(client.tokenRevocation(otherConfig, token), 'unauthorized_client');
    assert.equal((await client.tokenIntrospection(ownerConfig, token)).active, true);
  });

  for (const [alg, algorithm] of [
    ['ES256', { name: 'ECDSA', namedCurve: 'P-256' }],
    ['RS256', { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }],
  ]) {
    test(`private_key_jwt (${alg}) at the token and introspection endpoints`, async () => {
      const { privateKey, publicKey } = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
      const kid = uniqueName('key');
      const jwk = { ...(await crypto.subtle.exportKey('jwk', publicKey)), kid, alg, use: 'sig' };
      delete jwk.key_ops;
      delete jwk.ext;
      const created = await serviceClient('private_key_jwt', { jwks: { keys: [jwk] } });
      assert.equal(created.client_secret, undefined);

      const config = await discover(created.client_id, client.PrivateKeyJwt({ key: privateKey, kid }));
      const tokens = await client.clientCredentialsGrant(config, { scope: 'api.write' });
      await verifyAccessToken(tokens.access_token, created);
      // Each call signs a new assertion (a fresh jti): several in a row work.
      const again = await client.clientCredentialsGrant(config, { scope: 'api.read' });
      const introspected = await client.tokenIntrospection(config, again.access_token);
      assert.equal(introspected.active, true);
      assert.equal(introspected.scope, 'api.read');

      // A key the client did not register is refused.
      const stranger = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
      const wrong = await discover(created.client_id, client.PrivateKeyJwt({ key: stranger.privateKey, kid }));
      await rejectsWith(client.clientCredentialsGrant(wrong), 'invalid_client');
    });
  }
});

describe('realm keys', () => {
  let keys;
  before(async () => {
    const response = await fetch(`${issuer}/.well-known/jwks.json`);
    assert.equal(response.status, 200);
    keys = (await response.json()).keys;
  });

  test('the JWKS holds public keys only', () => {
    assert.ok(Array.isArray(keys) && keys.length > 0);
    for (const key of keys) {
      assert.equal(typeof key.kid, 'string');
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
        assert.equal(key[member], undefined, `private member ${member} in ${key.kid}`);
      }
    }
  });
});
