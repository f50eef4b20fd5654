// node-oidc-provider configured like ward for bench/run.sh: a confidential client with
// client_credentials and refresh_token (rotated on every use), introspection, and ES256 JWT
// access tokens through resource indicators. Storage is the provider's default in-memory
// adapter (node-oidc-provider ships no durable one), which favours the peer in the refresh row.
//
// Usage: node server.js PORT CLIENT_SECRET
// POST /bench/mint?n=N returns N fresh refresh tokens (a grant each), a bench-only shortcut
// for what an interactive sign-in would produce.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 3000);
const secret = process.argv[3] || 'bench-secret-0123456789';
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:ward:bench';
const SCOPE = 'containers:read';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'bench-es256' };

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: 'bench',
    client_secret: secret,
    grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:1/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  scopes: ['openid', 'offline_access', SCOPE],
  rotateRefreshToken: true,
  ttl: { AccessToken: 3600, ClientCredentials: 3600, RefreshToken: 90 * 86400, Grant: 90 * 86400 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // An opaque (stored, introspectable) token when asked for: the provider cannot introspect
      // its own JWT access tokens, so the introspection row uses an opaque one.
      defaultResource: (ctx) => (ctx.get('x-bench-opaque') ? undefined : RESOURCE),
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: SCOPE,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

async function mint(n) {
  const client = await provider.Client.find('bench');
  const out = [];
  for (let i = 0; i < n; i += 1) {
    const accountId = `bench-user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: 'bench' });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(RESOURCE, SCOPE);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      client,
      accountId,
      grantId,
      gty: 'authorization_code',
      scope: `offline_access ${SCOPE}`,
      resource: RESOURCE,
      authTime: Math.floor(Date.now() / 1000),
    });
    out.push(await rt.save());
  }
  return out;
}

const app = provider.callback();
http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/bench/mint')) {
    const n = Number(new URL(req.url, issuer).searchParams.get('n') || 1);
    mint(n).then((tokens) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ refresh_tokens: tokens }));
    }, (err) => { res.statusCode = 500; res.end(String(err)); });
    return;
  }
  app(req, res);
}).listen(port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
