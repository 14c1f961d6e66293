// A small local OpenID Connect provider for Keyholder's end-to-end tests.
//
// Start: node tests/oidc/provider.mjs, configured by environment variables (see README.md).
// When it is listening it prints one line to stdout: "listening http://127.0.0.1:<port>".
// Everything else (oidc-provider's notices and warnings) goes to stderr.

import { randomBytes, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

// oidc-provider prints its notices with console.info; keep stdout for the "listening" line only.
console.info = console.error;
console.log = console.error;

// --- configuration from the environment ----------------------------------------------------

const PORT = Number(process.env.PORT ?? 0);
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const REDIRECT_URI = required('REDIRECT_URI');
const ID_TOKEN_TTL = Number(process.env.ID_TOKEN_TTL ?? 300);
const EXTRA_CLAIMS = process.env.EXTRA_CLAIMS ? JSON.parse(process.env.EXTRA_CLAIMS) : {};
const DOMAIN = 'hill.school';
// CLOCK_OFFSET_SECS (e.g. -3600) runs the provider's clock off true while it answers the token
// endpoint (only there: its sign-in cookies keep the true time), so the ID tokens it issues
// carry iat and exp that far off and a client's expiry check can be tested.
const CLOCK_OFFSET_MS = Number(process.env.CLOCK_OFFSET_SECS ?? 0) * 1000;
let clockShifted = false;
if (CLOCK_OFFSET_MS) {
  const realNow = Date.now;
  Date.now = () => realNow() + (clockShifted ? CLOCK_OFFSET_MS : 0);
}

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
}

// Cookie signing keys shared by every Provider instance, so a rotation does not matter to them.
const COOKIE_KEYS = [randomBytes(32).toString('base64url')];

// --- accounts: anyone may log in -----------------------------------------------------------

// login_hint "alice" logs in alice with amr ["pwd"]; "alice+mfa" logs in alice with amr
// ["pwd","mfa"]. A "+" that was not percent-encoded arrives as a space, so accept that too.
function parseLoginHint(hint) {
  const match = /^(.*)[+ ]mfa$/.exec(hint ?? '');
  if (match && match[1]) return { accountId: match[1], amr: ['pwd', 'mfa'] };
  return { accountId: hint || 'alice', amr: ['pwd'] };
}

async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: `${id}@${DOMAIN}`,
        email_verified: true,
        name: id,
        hd: DOMAIN,
        ...EXTRA_CLAIMS,
      };
    },
  };
}

// --- signing keys --------------------------------------------------------------------------

// A fresh RS256 signing key as a private JWK with its own kid.
function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

// --- the provider --------------------------------------------------------------------------

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [newSigningKey()] },
    findAccount,
    // Advertise (in discovery) only the method our client is registered with. Note that
    // oidc-provider still accepts client_secret_basic for a client_secret_post client.
    clientAuthMethods: ['client_secret_post'],
    responseTypes: ['code'],
    // Claims each scope releases. amr is not released by default (only when asked for with the
    // claims parameter), so list it under openid, with hd and the EXTRA_CLAIMS names.
    claims: {
      openid: ['sub', 'amr', 'hd', ...Object.keys(EXTRA_CLAIMS)],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // By default, when an access token is issued too, the ID token carries only the openid
    // scope's claims (the rest via userinfo); put the email claims in the ID token as well.
    conformIdTokenClaims: false,
    // PKCE for every client, the confidential one included (the default asks only public ones).
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    // Interactions go to our own non-interactive route (below).
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: COOKIE_KEYS },
    ttl: {
      IdToken: ID_TOKEN_TTL,
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
    },
    // Errors as JSON rather than an HTML page.
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  return provider;
}

// The interaction route: finishes whichever prompt is pending at once, with no form.
//  - login: the account and amr come from the authorization request's login_hint;
//  - consent: a Grant with everything the request asked for.
// The browser is sent back (303) to the authorization endpoint, which then either asks for the
// next prompt (back here) or redirects to REDIRECT_URI with the code.
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;

  if (prompt.name === 'login') {
    const { accountId, amr } = parseLoginHint(params.login_hint);
    await provider.interactionFinished(req, res, { login: { accountId, amr } },
      { mergeWithLastSubmission: false });
    return;
  }

  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
    return;
  }

  res.statusCode = 400;
  res.end(`unsupported prompt ${prompt.name}`);
}

// --- the HTTP server -----------------------------------------------------------------------

let provider; // the current Provider; replaced by POST /__rotate
let providerCallback;

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://x');
  if (CLOCK_OFFSET_MS && req.method === 'POST' && pathname === '/token') {
    clockShifted = true;
    res.on('finish', () => {
      clockShifted = false;
    });
  }
  if (req.method === 'POST' && pathname === '/__rotate') {
    // A new Provider with a new signing key; same issuer and client.
    provider = buildProvider(provider.issuer);
    providerCallback = provider.callback();
    res.statusCode = 204;
    res.end();
    return;
  }
  if (req.method === 'GET' && pathname.startsWith('/interaction/')) {
    const current = provider;
    interaction(current, req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) res.statusCode = 500;
      res.end(String(err));
    });
    return;
  }
  providerCallback(req, res);
});

server.listen(PORT, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = buildProvider(issuer);
  providerCallback = provider.callback();
  process.stdout.write(`listening ${issuer}\n`);
});

// Exit cleanly when the test harness stops us.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
