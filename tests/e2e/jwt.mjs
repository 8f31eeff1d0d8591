// Test-side OIDC: key pairs of the three accepted kinds, a JWKS of them, and signed tokens, with
// Node's own crypto (what an identity provider would issue).
import crypto from 'node:crypto';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

export function keyPair(kind, kid) {
  let pair;
  if (kind === 'RS256') pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (kind === 'ES256') pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else if (kind === 'EdDSA') pair = crypto.generateKeyPairSync('ed25519');
  else throw new Error('unknown kind ' + kind);
  const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig' };
  return { alg: kind, kid, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk };
}

export const jwks = (...pairs) => JSON.stringify({ keys: pairs.map((p) => p.jwk) });

// Signs `claims` with `pair`; `header` overrides header fields (alg, kid).
export function sign(pair, claims, header = {}) {
  const h = { alg: pair.alg, typ: 'JWT', kid: pair.kid, ...header };
  const input = `${b64u(JSON.stringify(h))}.${b64u(JSON.stringify(claims))}`;
  let sig;
  if (pair.alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), pair.privateKey);
  else if (pair.alg === 'ES256') sig = crypto.sign('sha256', Buffer.from(input), { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
  else sig = crypto.sign(null, Buffer.from(input), pair.privateKey);
  return `${input}.${b64u(sig)}`;
}

// An unsigned token (alg "none") and an HS256 token keyed with the public key's PEM: the two
// classic forgeries.
export function forgeNone(claims) {
  return `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}.`;
}
export function forgeHs256(pair, claims) {
  const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: pair.kid }))}.${b64u(JSON.stringify(claims))}`;
  const secret = pair.publicKey.export({ format: 'pem', type: 'spki' });
  return `${input}.${b64u(crypto.createHmac('sha256', secret).update(input).digest())}`;
}

export const now = () => Math.floor(Date.now() / 1000);
