// The development OpenID Connect provider of Partage: panva's oidc-provider run from one JSON
// config file (argv[2]), with demo users from users.json and our own login page.
//
// Why each choice (DESIGN.md, "development IdP"): access tokens are RFC 9068 JWTs (typ at+jwt)
// for one resource whose audience is the API audience, so every service validates them offline;
// the grant is given without a consent page (first-party clients only); PKCE S256 is required;
// claims are the same in the access token and the ID token.
//
// Config keys: issuer, port, users_file, clients, audience, access_token_ttl_s,
// refresh_token_ttl_s. Listens on 127.0.0.1 only. Prints "ready <issuer>" once listening.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import Provider, { errors } from 'oidc-provider';

/** Claims a user may carry, in access and ID tokens (partage.auth.ClaimPaths names). */
const USER_CLAIMS = ['name', 'given_name', 'family_name', 'roles', 'rpps', 'organisation',
  'organisation_oid', 'ins', 'purpose_of_use'];
const MAX_FORM_BYTES = 16 * 1024;

function fail(message) {
  console.error(`idp: ${message}`);
  process.exit(2);
}

function loadConfig(path) {
  if (!path) fail('usage: node server.mjs CONFIG.json');
  let config;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`cannot read the config ${path}: ${err.message}`);
  }
  for (const key of ['issuer', 'port', 'users_file', 'clients', 'audience']) {
    if (config[key] === undefined) fail(`config ${path} lacks "${key}"`);
  }
  return { access_token_ttl_s: 900, refresh_token_ttl_s: 8 * 3600, ...config,
    users_file: resolve(path, '..', config.users_file) };
}

/** users.json → Map login → user; refuses duplicates and users without password or roles. */
function loadUsers(path) {
  let users;
  try {
    ({ users } = JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    fail(`cannot read the users file ${path}: ${err.message}`);
  }
  const byLogin = new Map();
  for (const user of users ?? []) {
    if (typeof user.login !== 'string' || !user.login) fail(`${path}: a user has no login`);
    if (typeof user.password !== 'string') fail(`${path}: ${user.login} has no password`);
    if (!Array.isArray(user.roles) || !user.roles.length) fail(`${path}: ${user.login} has no roles`);
    if (byLogin.has(user.login)) fail(`${path}: login ${user.login} appears twice`);
    byLogin.set(user.login, user);
  }
  return byLogin;
}

function userClaims(user) {
  return Object.fromEntries(USER_CLAIMS.filter((c) => user[c] !== undefined).map((c) => [c, user[c]]));
}

/** Constant-time comparison of two strings of any length (digests have equal lengths). */
function sameSecret(given, expected) {
  const digest = (s) => crypto.createHash('sha256').update(s, 'utf8').digest();
  return crypto.timingSafeEqual(digest(given), digest(expected));
}

/** A fresh RS256 signing key per start: tokens of an earlier run are refused, as they should. */
function signingKeys() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `rs256-${crypto.randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' }] };
}

const esc = (value) => String(value ?? '').replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(ctx, status, title, body) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('cache-control', 'no-store');
  ctx.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  ctx.body = `<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} — Partage</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
label{display:block;margin-top:1rem;font-weight:600}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}.error{color:#8b0000;border:2px solid #8b0000;padding:.5rem}</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

function loginPage(ctx, { uid, clientName, login = '', error = '' }) {
  const alert = error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : '';
  const describedBy = error ? ' aria-describedby="login-error"' : '';
  page(ctx, 200, 'Connexion / Sign in', `
<h1>Connexion / Sign in</h1>
<p>${esc(clientName)} — serveur d'identité de démonstration / development identity provider</p>
${alert}
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="login">Identifiant / Login</label>
<input id="login" name="login" autocomplete="username" required autofocus value="${esc(login)}"${describedBy}>
<label for="password">Mot de passe / Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${describedBy}>
<button type="submit">Se connecter / Sign in</button>
</form>`);
}

async function readForm(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    ctx.throw(415, 'the login form is sent as application/x-www-form-urlencoded');
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) ctx.throw(413, 'the login form is too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function build(config, users) {
  const resource = URL.canParse(config.audience) ? config.audience : `urn:${config.audience}`;
  const dummyPassword = crypto.randomBytes(16).toString('hex');

  const provider = new Provider(config.issuer, {
    clients: config.clients,
    jwks: signingKeys(),
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    extraClientMetadata: {
      // service clients: the roles and the site their client_credentials tokens carry
      properties: ['roles', 'site'],
      validator(ctx, key, value) {
        if (value === undefined) return;
        if (key === 'roles' && !(Array.isArray(value) && value.every((r) => typeof r === 'string'))) {
          throw new errors.InvalidClientMetadata('roles must be a list of strings');
        }
        if (key === 'site' && typeof value !== 'string') {
          throw new errors.InvalidClientMetadata('site must be an OID string');
        }
      },
    },
    claims: {
      // the portal asks "openid profile": Partage's claims come with openid itself
      openid: ['sub', ...USER_CLAIMS],
      profile: ['name', 'given_name', 'family_name'],
    },
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      const user = users.get(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...userClaims(user) }) };
    },
    async extraTokenClaims(ctx, token) {
      if (token.accountId) {
        const user = users.get(token.accountId);
        return user ? userClaims(user) : undefined;
      }
      const { client } = token;
      if (!client?.roles && !client?.site) return undefined;
      return {
        roles: client.roles ?? [],
        ...(client.site ? { site: client.site, organisation_oid: client.site } : {}),
        ...(client.clientName ? { name: client.clientName } : {}),
      };
    },
    // no consent page: the requested scopes, claims and resource are granted at login
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== oidc.session.accountId) {
        grant = new provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
      }
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      grant.addOIDCClaims([...oidc.requestParamClaims]);
      for (const [indicator, server] of Object.entries(oidc.resourceServers)) {
        grant.addResourceScope(indicator, [...oidc.requestParamScopes].filter((s) => server.scopes.has(s)).join(' '));
      }
      await grant.save();
      return grant;
    },
    async issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      // userinfo only takes opaque tokens without an audience; ours are JWTs for the API, and
      // the ID token carries every claim
      userinfo: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, indicator) {
          if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            scope: '',
            audience: config.audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: config.access_token_ttl_s,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        // no second click: the confirmation form submits itself ("logout=yes")
        async logoutSource(ctx, form) {
          const confirmed = form.replace('</form>',
            '<input type="hidden" name="logout" value="yes"><noscript><button type="submit">Se déconnecter / Sign out</button></noscript></form>');
          const script = "document.getElementById('op.logoutForm').submit()";
          page(ctx, 200, 'Déconnexion / Signing out', `<h1>Déconnexion… / Signing out…</h1>${confirmed}<script>${script}</script>`);
          const digest = crypto.createHash('sha256').update(script).digest('base64');
          ctx.set('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${digest}'`);
        },
        async postLogoutSuccessSource(ctx) {
          page(ctx, 200, 'Déconnecté / Signed out', '<h1>Vous êtes déconnecté / You are signed out</h1>');
        },
      },
    },
    async renderError(ctx, out) {
      const lines = Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: ${esc(v)}</p>`);
      page(ctx, ctx.status || 400, 'Erreur / Error', `<h1>Erreur / Error</h1>${lines.join('')}`);
    },
    ttl: {
      AccessToken: config.access_token_ttl_s,
      ClientCredentials: config.access_token_ttl_s,
      RefreshToken: config.refresh_token_ttl_s,
      IdToken: config.access_token_ttl_s,
    },
  });

  async function finish(ctx, result, mergeWithLastSubmission) {
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission }));
    ctx.status = 303;
  }

  // our interaction pages: GET shows the login form, POST checks the password
  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
    if (!match) return next();
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (details.uid !== match[1]) ctx.throw(400, 'this sign-in page belongs to another request');
      if (details.prompt.name === 'consent') {
        // prompt=consent: loadExistingGrant has already granted everything asked for
        return finish(ctx, { consent: { grantId: details.grantId } }, true);
      }
      if (details.prompt.name !== 'login') ctx.throw(400, `unsupported interaction ${details.prompt.name}`);
      const client = await provider.Client.find(details.params.client_id);
      const clientName = client?.clientName || details.params.client_id;
      if (ctx.method === 'GET' && !match[2]) {
        return loginPage(ctx, { uid: details.uid, clientName });
      }
      if (ctx.method !== 'POST' || !match[2]) ctx.throw(405, 'method not allowed');
      const form = await readForm(ctx);
      const login = form.get('login') ?? '';
      const user = users.get(login);
      // compare even for an unknown login, so timing does not tell which logins exist
      const ok = sameSecret(form.get('password') ?? '', user ? user.password : dummyPassword) && user;
      if (!ok) {
        return loginPage(ctx, { uid: details.uid, clientName, login,
          error: 'Identifiant ou mot de passe incorrect. / Wrong login or password.' });
      }
      return finish(ctx, { login: { accountId: user.login } }, false);
    } catch (err) {
      const status = err.status || err.statusCode || 500;
      if (status >= 500) console.error(err);
      const message = err instanceof errors.SessionNotFound
        ? 'La demande de connexion a expiré ; recommencez depuis le portail. / This sign-in request expired; start again from the portal.'
        : (status >= 500 ? 'internal error' : err.error_description || err.message);
      return page(ctx, status, 'Erreur / Error', `<h1>Erreur / Error</h1><p role="alert">${esc(message)}</p>`);
    }
  });
  return provider;
}

const config = loadConfig(process.argv[2]);
const provider = build(config, loadUsers(config.users_file));
const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`ready ${config.issuer}`);
});
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${config.port}: ${err.message}`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
