/* latchkey-prf.js: the browser half of Latchkey's PRF feature, for the site's own pages.
 *
 * When a tenant has PRF on, Latchkey's hosted page evaluates the WebAuthn `prf`
 * extension with the tenant's salt and appends the output to the redirect back to the
 * site, in the URL *fragment*: `#latchkey_prf=<base64url 32 bytes>` (and, during a salt
 * rotation, `&latchkey_prf_next=<…>`), or `#latchkey_prf=unavailable` when the passkey
 * or browser has no PRF. Browsers never send a fragment to any server, so neither the
 * broker nor the site's backend sees the secret (a fragment survives the site's own
 * redirects, e.g. callback → home).
 *
 *   const prf = await LatchkeyPrf.take({ info: 'my-site notes v1' });
 *   // prf.status: 'available' | 'unavailable' | 'absent'
 *   // prf.key: a non-extractable AES-256-GCM CryptoKey (or null); prf.keyId: hex label
 *   // prf.nextKey / prf.nextKeyId during a salt rotation (re-encrypt, then finish it)
 *   const sealed = await LatchkeyPrf.encrypt(prf.key, 'secret text');
 *   const text = await LatchkeyPrf.decrypt(prf.key, sealed);
 *
 * `take` reads the fragment once, removes the Latchkey members from it (and so from
 * the history entry), derives the key with HKDF-SHA-256 in WebCrypto and zeroes the raw
 * bytes. Keys live in memory only: a reload needs a new sign-in. Same passkey, same
 * tenant salt and same `info` give the same key on every sign-in; another passkey gives
 * another key. Plain script, no dependencies; serve it from your own origin under a CSP
 * with `script-src 'self'`, over HTTPS.
 */
(function (global) {
  'use strict';

  const DEFAULT_INFO = 'latchkey prf aes-256-gcm v1';
  const enc = new TextEncoder();

  function b64urlDecode(str) {
    let s = String(str).replace(/-/g, '+').replace(/_/g, '/');
    s += '='.repeat((4 - (s.length % 4)) % 4);
    const bin = atob(s);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  function b64urlEncode(bytes) {
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

  /** Derives `{key, keyId}` from 32 PRF bytes: a non-extractable AES-256-GCM key, and a
   * public label of it (HKDF with another `info`, so it reveals nothing of the key). */
  async function deriveKey(prfBytes, info) {
    info = info || DEFAULT_INFO;
    const ikm = await crypto.subtle.importKey('raw', prfBytes, 'HKDF', false, ['deriveKey', 'deriveBits']);
    const params = (label) => ({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: enc.encode(label) });
    const key = await crypto.subtle.deriveKey(params(info), ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    const id = new Uint8Array(await crypto.subtle.deriveBits(params(info + ' key id'), ikm, 128));
    return { key, keyId: hex(id) };
  }

  /** Reads and clears the PRF output of the URL fragment and derives the keys. */
  async function take(options) {
    options = options || {};
    const none = (status) => ({ status, key: null, keyId: null, nextKey: null, nextKeyId: null });
    const params = new URLSearchParams(global.location.hash.replace(/^#/, ''));
    if (!params.has('latchkey_prf')) return none('absent');
    const first = params.get('latchkey_prf');
    const second = params.get('latchkey_prf_next');
    params.delete('latchkey_prf');
    params.delete('latchkey_prf_next');
    const rest = params.toString();
    const loc = global.location;
    global.history.replaceState(global.history.state, '', loc.pathname + loc.search + (rest ? '#' + rest : ''));

    const decode = (v) => {
      if (!v || !/^[A-Za-z0-9_-]{43}$/.test(v)) return null;
      const b = b64urlDecode(v);
      return b.length === 32 ? b : null;
    };
    const firstBytes = decode(first);
    if (!firstBytes) return none('unavailable');
    const secondBytes = decode(second);
    try {
      const current = await deriveKey(firstBytes, options.info);
      const next = secondBytes ? await deriveKey(secondBytes, options.info) : null;
      return {
        status: 'available',
        key: current.key,
        keyId: current.keyId,
        nextKey: next ? next.key : null,
        nextKeyId: next ? next.keyId : null,
      };
    } finally {
      firstBytes.fill(0);
      if (secondBytes) secondBytes.fill(0);
    }
  }

  /** AES-256-GCM with a random 96-bit IV: base64url(iv ‖ ciphertext ‖ tag). */
  async function encrypt(key, text) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, enc.encode(text)));
    const out = new Uint8Array(iv.length + ct.length);
    out.set(iv);
    out.set(ct, iv.length);
    return b64urlEncode(out);
  }

  /** Opens what `encrypt` sealed; rejects when the key is not the one that sealed it. */
  async function decrypt(key, sealed) {
    const bytes = b64urlDecode(sealed);
    if (bytes.length < 12 + 16) throw new Error('sealed text too short');
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, 12) }, key, bytes.subarray(12));
    return new TextDecoder().decode(pt);
  }

  global.LatchkeyPrf = Object.freeze({ take, deriveKey, encrypt, decrypt });
})(window);
