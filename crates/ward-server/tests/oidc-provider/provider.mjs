// An independent OpenID Provider for ward's federation tests: panva/oidc-provider (certified
// OpenID Connect implementation) on 127.0.0.1 with a free port.
//
// Environment: WARD_REDIRECT_URI (ward's callback, registered for client `ward`),
// CLIENT_SECRET. Prints one JSON line {"issuer": "..."} on stdout when ready.
//
// Test controls (plain HTTP, loopback only):
// - Interactions auto-approve: the account signed in is the authorization request's
//   `login_hint` (ward forwards the email typed at its sign-in page), `sub` = "sub-" + a hash of
//   it unless overridden.
// - POST /__test/accounts {"<hint>": {"sub", "email", "email_verified", "repository", "ref",
//   "workflow"}} overrides accounts (the last three are the `ci` scope's claims).
// - Client `ci` (same secret, redirect http://127.0.0.1/ci-callback) gets ID tokens with
//   aud `ci`: a CI job's identity, for ward's token exchange tests.
// - POST /__test/mode {"mode": null | "wrong_nonce" | "wrong_aud" | "expired" |
//   "bad_signature" | "token_error" | "deny"} makes the provider misbehave: the token
//   endpoint's ID token is rewritten (and re-signed with the provider's own key, except for
//   bad_signature) or the token request fails; "deny" ends the interaction with access_denied.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const redirectUri = process.env.WARD_REDIRECT_URI;
const clientSecret = process.env.CLIENT_SECRET || 'provider-client-secret-0123456789';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
const signingKey = await jose.importJWK(jwk, 'RS256');
const { privateKey: otherKey } = await jose.generateKeyPair('RS256');

let mode = null;
const accounts = {};

function account(hint) {
  const a = accounts[hint] || {};
  // CI-like claims (GitHub Actions names), for workload identity tests: only when set.
  const ci = {};
  for (const k of ['repository', 'ref', 'workflow']) if (a[k] !== undefined) ci[k] = a[k];
  return {
    sub: a.sub || 'sub-' + crypto.createHash('sha256').update(hint).digest('hex').slice(0, 16),
    email: a.email || hint,
    email_verified: a.email_verified === undefined ? true : a.email_verified,
    name: a.name || hint.split('@')[0],
    ...ci,
  };
}
// accountId → hint
const accountHints = {};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'ward',
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // A CI system's job token, as a workload presents it to ward's token exchange: an ID token
    // whose aud is `ci` and whose `ci` scope carries repository, ref and workflow.
    {
      client_id: 'ci',
      client_secret: clientSecret,
      redirect_uris: ['http://127.0.0.1/ci-callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  // Email in the ID token itself, as Google, Okta and Entra ID do (oidc-provider's default,
  // conformIdTokenClaims, returns it from UserInfo only: CONFORM_ID_TOKEN_CLAIMS=1).
  conformIdTokenClaims: process.env.CONFORM_ID_TOKEN_CLAIMS === '1',
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'],
    ci: ['repository', 'ref', 'workflow'],
  },
  scopes: ['openid', 'email', 'profile', 'ci'],
  pkce: { required: () => true },
  // DPoP is on by default; introspection shows a bound token's cnf.jkt (ward-client's proofs,
  // tests/it/dpop/interop.rs).
  features: { devInteractions: { enabled: false }, introspection: { enabled: true } },
  cookies: { keys: ['test-cookie-key-0123456789'] },
  async findAccount(ctx, id) {
    const hint = accountHints[id];
    if (!hint) return undefined;
    const a = account(hint);
    return { accountId: id, async claims() { return { ...a } } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // First-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile ci');
    await grant.save();
    return grant;
  },
  ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60, Session: 60, Interaction: 600, Grant: 600 },
});

async function readJson(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body ? JSON.parse(body) : {};
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/__test/mode') {
    mode = (await readJson(ctx.req)).mode || null;
    ctx.body = { mode };
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/__test/accounts') {
    Object.assign(accounts, await readJson(ctx.req));
    ctx.body = { ok: true };
    return;
  }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (mode === 'deny') {
      result = { error: 'access_denied', error_description: 'the user said no' };
    } else {
      const hint = details.params.login_hint || 'alice@corp.example';
      const a = account(hint);
      accountHints[a.sub] = hint;
      result = { login: { accountId: a.sub } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/token' && mode === 'token_error') {
    ctx.status = 400;
    ctx.body = { error: 'invalid_grant', error_description: 'told to fail' };
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token && mode) {
    const payload = jose.decodeJwt(ctx.body.id_token);
    const now = Math.floor(Date.now() / 1000);
    if (mode === 'wrong_nonce') payload.nonce = 'not-the-nonce-ward-sent';
    if (mode === 'wrong_aud') payload.aud = 'some-other-client';
    if (mode === 'expired') { payload.iat = now - 7200; payload.exp = now - 3600; }
    const key = mode === 'bad_signature' ? otherKey : signingKey;
    ctx.body.id_token = await new jose.SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key-1', typ: 'JWT' })
      .sign(key);
  }
});

server.on('request', provider.callback());
process.stdout.write(JSON.stringify({ issuer }) + '\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
