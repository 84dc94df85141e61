// A real OpenID Connect provider for carepath's tests: panva/oidc-provider (OpenID Certified),
// configured like a hospital's identity provider. Only the login page is ours: it signs in the
// named test user without a password, so tests can drive the code flow with a plain HTTP client.
//
//   node provider.mjs PORT REDIRECT_URL [KEY_GENERATION]
//
// Prints "listening" once it answers. Signing keys are made at start, with key ids ending in
// KEY_GENERATION (default 1): restarting with another generation is a key rotation. Users and their groups are below; clients:
//   carepath        the API and dashboard (confidential, client_secret_basic, PKCE required)
//   carepath-es256  the same, but its ID tokens are signed with ES256
//   other-app       some other hospital application (tokens meant for it must be refused)

import { createServer } from "node:http";
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const [port, redirectUrl, generation = "1"] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const USERS = {
  "nina.navigator": ["spine-navigators", "all-staff"],
  "leo.lab": ["lab-staff", "all-staff"],
  "vic.visitor": ["visitors"],
};

async function signingKey(alg, kid) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: "sig", kid };
}

function client(clientId, extra = {}) {
  return {
    client_id: clientId,
    client_secret: `${clientId}-secret`,
    redirect_uris: [redirectUrl],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    ...extra,
  };
}

const provider = new Provider(issuer, {
  clients: [
    client("carepath"),
    client("carepath-es256", { id_token_signed_response_alg: "ES256" }),
    client("other-app"),
  ],
  jwks: {
    keys: [
      await signingKey("RS256", `rs-${generation}`),
      await signingKey("ES256", `es-${generation}`),
    ],
  },
  claims: { openid: ["sub"], profile: ["preferred_username", "name"], groups: ["groups"] },
  // Hospital providers put the group claim in the ID token itself (as Keycloak and Entra do).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ["carepath-test-provider-cookie-key"] },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    if (!(id in USERS)) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, preferred_username: id, name: id, groups: USERS[id] }),
    };
  },
});

async function readForm(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The login page: POST /interaction/UID/login with login=USER signs USER in and grants consent.
async function login(req, res) {
  const details = await provider.interactionDetails(req, res);
  const accountId = (await readForm(req)).get("login");
  if (!(accountId in USERS)) {
    res.writeHead(400, { "content-type": "text/plain" });
    res.end(`no such test user: ${accountId}`);
    return;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const handle = provider.callback();
createServer((req, res) => {
  const path = req.url.split("?")[0];
  if (req.method === "POST" && /^\/interaction\/[^/]+\/login$/.test(path)) {
    login(req, res).catch((error) => {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(String(error));
    });
  } else if (req.method === "GET" && /^\/interaction\/[^/]+$/.test(path)) {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<form method="post" action="${path}/login"><input name="login"><button>Sign in</button></form>`);
  } else {
    handle(req, res);
  }
}).listen(Number(port), "127.0.0.1", () => console.log("listening"));
