// A real OpenID provider for the tests (docs/security.md, "Tested against a real provider").
// Usage: node provider.mjs <port> <config.json>; config: {issuer, keys: [private JWKs], clients: [...]}.
// Each client: {client_id, client_secret, org_kind, org_id, alg}; its access tokens are JWTs for the
// resource (RFC 8707) it asks, signed with `alg`, carrying org_kind and org_id.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, configFile] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configFile, 'utf8'));
const byId = Object.fromEntries(config.clients.map((c) => [c.client_id, c]));

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id, client_secret: c.client_secret, grant_types: ['client_credentials'],
    redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: config.keys },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: '', audience: resource, accessTokenTTL: config.ttl_s ?? 300, accessTokenFormat: 'jwt',
        jwt: { sign: { alg: byId[client.clientId].alg } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    const client = byId[token.clientId];
    return client ? { [config.org_kind_claim ?? 'org_kind']: client.org_kind, [config.org_id_claim ?? 'org_id']: client.org_id } : {};
  },
});
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${config.issuer}`));
