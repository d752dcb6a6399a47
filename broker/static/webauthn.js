/* Latchkey hosted pages: WebAuthn's JSON forms (options in, credentials out) and the
 * Signal API, shared by the sign-in page and the account page. Plain JS, no build step. */
(function () {
  'use strict';
  const PKC = window.PublicKeyCredential;

  // ---- base64url ----
  function b64urlEncode(data) {
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function b64urlDecode(str) {
    let s = String(str).replace(/-/g, '+').replace(/_/g, '/').replace(/[=\s]/g, '');
    s += '='.repeat((4 - (s.length % 4)) % 4);
    const bin = atob(s);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  // ---- JSON <-> WebAuthn objects ----
  // WebIDL converts a null member instead of skipping it, which breaks enum members.
  function dropNulls(v) {
    if (Array.isArray(v)) return v.map(dropNulls);
    if (!v || typeof v !== 'object') return v;
    const out = {};
    for (const k of Object.keys(v)) if (v[k] !== null) out[k] = dropNulls(v[k]);
    return out;
  }

  const decodeIds = (list) => list.map((c) => Object.assign({}, c, { id: b64urlDecode(c.id) }));

  function requestOptions(json) {
    json = dropNulls(json);
    if (typeof PKC.parseRequestOptionsFromJSON === 'function') {
      try { return PKC.parseRequestOptionsFromJSON(json); } catch (e) { /* use the fallback */ }
    }
    const o = Object.assign({}, json, { challenge: b64urlDecode(json.challenge) });
    if (Array.isArray(json.allowCredentials)) o.allowCredentials = decodeIds(json.allowCredentials);
    return o;
  }

  function creationOptions(json) {
    json = dropNulls(json);
    if (typeof PKC.parseCreationOptionsFromJSON === 'function') {
      try { return PKC.parseCreationOptionsFromJSON(json); } catch (e) { /* use the fallback */ }
    }
    const o = Object.assign({}, json, {
      challenge: b64urlDecode(json.challenge),
      user: Object.assign({}, json.user, { id: b64urlDecode(json.user.id) }),
    });
    if (Array.isArray(json.excludeCredentials)) o.excludeCredentials = decodeIds(json.excludeCredentials);
    return o;
  }

  // Extension outputs may hold binary values (e.g. prf); JSON wants base64url.
  function extToJSON(v) {
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return b64urlEncode(v);
    if (Array.isArray(v)) return v.map(extToJSON);
    if (!v || typeof v !== 'object') return v;
    const out = {};
    for (const k of Object.keys(v)) out[k] = extToJSON(v[k]);
    return out;
  }

  // WebAuthn L3 JSON form of a credential: native toJSON(), else built by hand.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === 'function') {
      try {
        const j = cred.toJSON();
        if (j && j.response && typeof j.response.clientDataJSON === 'string') return j;
      } catch (e) { /* use the fallback */ }
    }
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: b64urlEncode(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: extToJSON(cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}),
      response: { clientDataJSON: b64urlEncode(r.clientDataJSON) },
    };
    if (r.attestationObject) { // registration
      out.response.attestationObject = b64urlEncode(r.attestationObject);
      const opt = (key, fn, encode) => {
        if (typeof r[fn] !== 'function') return;
        try {
          const v = r[fn]();
          if (v !== null && v !== undefined) out.response[key] = encode ? b64urlEncode(v) : v;
        } catch (e) { /* optional member */ }
      };
      opt('authenticatorData', 'getAuthenticatorData', true);
      opt('publicKey', 'getPublicKey', true);
      opt('publicKeyAlgorithm', 'getPublicKeyAlgorithm', false);
      opt('transports', 'getTransports', false);
    } else { // assertion
      out.response.authenticatorData = b64urlEncode(r.authenticatorData);
      out.response.signature = b64urlEncode(r.signature);
      out.response.userHandle = r.userHandle ? b64urlEncode(r.userHandle) : null;
    }
    return out;
  }

  // ---- Signal API (best effort: feature-detected, errors swallowed) ----
  function signal(name, arg) {
    try {
      if (PKC && typeof PKC[name] === 'function') return Promise.resolve(PKC[name](arg)).catch(() => {});
    } catch (e) { /* ignore */ }
    return Promise.resolve();
  }

  window.LatchkeyWebAuthn = Object.freeze({
    b64urlEncode, b64urlDecode, requestOptions, creationOptions, credentialJSON, signal,
  });
})();
