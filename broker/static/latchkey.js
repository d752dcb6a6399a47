/* Latchkey hosted sign-in page: runs the WebAuthn ceremonies against the
 * broker's ceremony API (PROTOCOL.md §2). Plain JS, no build step. */
(function () {
  'use strict';

  // ---- Page context (from the <meta> tags the server renders) ----
  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') || '' : '';
  };
  const flow = meta('latchkey-flow');
  const rpId = meta('latchkey-rp-id');
  const siteMode = meta('latchkey-rp-mode') === 'site';
  const needsRor = meta('latchkey-needs-related-origins') === 'true';
  const API = '/api/v1/flows/' + encodeURIComponent(flow);
  const PKC = window.PublicKeyCredential;

  const ui = {
    signin: $('signin-button'), create: $('create-button'), form: $('create-form'),
    email: $('email'), displayName: $('display-name'), status: $('status'),
    error: $('error'), errorMessage: $('error-message'), retry: $('retry-button'),
    errorLogin: $('error-show-login'), viewLogin: $('view-login'), viewCreate: $('view-create'),
    showCreate: $('show-create'), showLogin: $('show-login'), rorNotice: $('ror-notice'),
  };

  let lastAction = 'signin'; // what the retry button restarts
  let running = false;       // a ceremony is in progress
  let finished = false;      // redirecting, or the flow is gone: no more ceremonies
  let lockedUntil = 0;       // rate limited: buttons stay off until this time (ms)

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

  // ---- Ceremony API ----
  class ApiError extends Error {
    constructor(code, serverMessage, body, retryAfter) {
      super(code);
      this.name = 'ApiError';
      this.code = code;
      this.serverMessage = serverMessage || '';
      this.body = body || {};
      this.retryAfter = retryAfter || 0;
    }
  }

  // Retry-After is either delta-seconds or an HTTP date.
  function retrySeconds(header) {
    if (!header) return 0;
    const n = Number(header);
    if (Number.isFinite(n)) return Math.max(1, Math.ceil(n));
    const t = Date.parse(header);
    return Number.isNaN(t) ? 0 : Math.max(1, Math.ceil((t - Date.now()) / 1000));
  }

  async function post(path, body) {
    let res;
    try {
      res = await fetch(API + path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError('network_error');
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const code = data && typeof data.error === 'string' ? data.error
        : ({ 413: 'payload_too_large', 429: 'rate_limited' })[res.status] || 'server_error';
      const message = data && typeof data.message === 'string' ? data.message : '';
      throw new ApiError(code, message, data, retrySeconds(res.headers.get('Retry-After')));
    }
    if (!data || typeof data !== 'object') throw new ApiError('bad_response');
    return data;
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

  function sendSignals(s) {
    if (!s || !s.rp_id || !s.user_id) return Promise.resolve();
    const jobs = [];
    if (Array.isArray(s.all_accepted_credential_ids)) {
      jobs.push(signal('signalAllAcceptedCredentials', {
        rpId: s.rp_id, userId: s.user_id, allAcceptedCredentialIds: s.all_accepted_credential_ids,
      }));
    }
    if (s.name) {
      jobs.push(signal('signalCurrentUserDetails', {
        rpId: s.rp_id, userId: s.user_id, name: s.name, displayName: s.display_name || s.name,
      }));
    }
    // Never hold the redirect for more than about a second.
    return Promise.race([Promise.all(jobs), new Promise((r) => setTimeout(r, 1000))]);
  }

  // ---- UI state ----
  function setStatus(text) { ui.status.textContent = text; }

  function setBusy(on) {
    const off = on || finished || Date.now() < lockedUntil;
    [ui.signin, ui.create, ui.retry, ui.showCreate, ui.showLogin, ui.errorLogin]
      .forEach((b) => { b.disabled = off; });
    ui.form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  function showView(name) {
    const create = name === 'create';
    ui.viewLogin.hidden = create;
    ui.viewCreate.hidden = !create;
    document.body.dataset.view = create ? 'create' : 'login';
    hideError();
    setStatus('');
    (create ? ui.email : ui.signin).focus();
  }

  function showError(code, text, opts) {
    opts = opts || {};
    document.body.dataset.state = 'error';
    document.body.dataset.error = code;
    setStatus('');
    ui.retry.hidden = opts.retry === false;
    ui.errorLogin.hidden = !opts.signInInstead;
    ui.error.hidden = false;
    ui.errorMessage.textContent = text;
  }

  function hideError() {
    ui.error.hidden = true;
    ui.errorMessage.textContent = '';
    delete document.body.dataset.error;
  }

  // ---- Errors in plain words ----
  const EXPIRED = 'This sign-in page has expired. Go back to the site and start again.';
  const API_TEXT = {
    flow_not_found: EXPIRED,
    flow_expired: EXPIRED,
    flow_binding_mismatch: 'This sign-in was started in another browser or tab, or this browser did not keep its cookie. Go back to the site and start again in this browser.',
    challenge_expired: 'The sign-in request timed out. Try again.',
    unknown_credential: 'This passkey is no longer registered here. Create a new one or pick another.',
    verification_failed: 'Your passkey could not be verified. Try again, or pick another passkey.',
    user_verification_required: 'Your device did not verify you (PIN, fingerprint or face). Try again and complete the check.',
    invalid_request: 'The server did not accept this request. Try again.',
    payload_too_large: 'Your browser sent more data than the server accepts. Try again or pick another passkey.',
    rate_limited: 'Too many attempts. Wait a moment, then try again.',
    network_error: 'Could not reach the server. Check your connection and try again.',
    bad_response: 'The server sent an answer this page did not understand. Try again.',
    server_error: 'Something went wrong on the server. Try again.',
  };
  const NO_RETRY = ['flow_not_found', 'flow_expired', 'flow_binding_mismatch'];

  function handleApiError(err) {
    const code = err.code;
    if (code === 'unknown_credential' && err.body.credential_id) {
      signal('signalUnknownCredential', { rpId: err.body.rp_id || rpId, credentialId: err.body.credential_id });
    }
    let text = err.serverMessage || API_TEXT[code] || 'Something went wrong (' + code + '). Try again.';
    if (code === 'rate_limited' && err.retryAfter) {
      const n = err.retryAfter;
      text = 'Too many attempts. Wait ' + n + (n === 1 ? ' second' : ' seconds') + ', then try again.';
      lockedUntil = Date.now() + n * 1000;
      setTimeout(() => setBusy(running), n * 1000 + 50);
    }
    if (NO_RETRY.indexOf(code) >= 0) finished = true; // the flow cannot be used again
    showError(code, text, { retry: NO_RETRY.indexOf(code) < 0 });
  }

  function handleWebAuthnError(err, action) {
    const name = (err && err.name) || 'Error';
    switch (name) {
      case 'NotAllowedError':
        return showError(name, 'The passkey prompt was closed or timed out. Try again when you are ready.');
      case 'InvalidStateError':
        if (action === 'create') {
          return showError(name, 'A passkey for this account already exists on this device. Sign in with it instead.',
            { retry: false, signInInstead: true });
        }
        break;
      case 'SecurityError':
        if (siteMode && needsRor) {
          return showError(name, 'This browser refused to use your passkeys for ' + rpId + ' on this sign-in page. ' +
            'It needs WebAuthn Related Origin Requests, and ' + rpId + ' must list this page in https://' + rpId +
            '/.well-known/webauthn. Use an up-to-date Chrome, Edge or Safari, or sign in on ' + rpId + ' directly.');
        }
        return showError(name, 'This browser refused the passkey request for ' + rpId + ' on this page for security reasons.');
      case 'AbortError':
        return showError(name, 'The passkey request was cancelled. Try again.');
    }
    return showError(name, 'Something went wrong with the passkey (' + name + '). Try again.');
  }

  // ---- Ceremonies ----
  function safeRedirect(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
    } catch (e) {
      return '';
    }
  }

  async function finish(result) {
    const target = safeRedirect(result.redirect_to);
    if (!target) throw new ApiError('bad_response');
    finished = true;
    document.body.dataset.state = 'redirecting';
    setStatus('Signed in. Returning to the site…');
    try { await sendSignals(result.signals); } catch (e) { /* best effort */ }
    window.location.assign(target);
  }

  function needOptions(answer) {
    if (!answer.publicKey || typeof answer.publicKey !== 'object') throw new ApiError('bad_response');
    return answer.publicKey;
  }

  // Keep nothing async between the click and navigator.credentials.* except
  // the one options fetch: older Safari drops the user gesture otherwise.
  async function signIn() {
    setStatus('Preparing sign-in…');
    const publicKey = requestOptions(needOptions(await post('/authentication/options', {})));
    setStatus('Follow your browser’s prompt to use your passkey.');
    const cred = await navigator.credentials.get({ publicKey });
    if (!cred) throw new DOMException('No passkey was chosen.', 'NotAllowedError');
    setStatus('Checking your passkey…');
    await finish(await post('/authentication', credentialJSON(cred)));
  }

  async function createPasskey() {
    const body = {};
    const email = ui.email.value.trim();
    const displayName = ui.displayName.value.trim();
    if (email) body.email = email;
    if (displayName) body.display_name = displayName;
    setStatus('Preparing your new passkey…');
    const publicKey = creationOptions(needOptions(await post('/registration/options', body)));
    setStatus('Follow your browser’s prompt to create your passkey.');
    const cred = await navigator.credentials.create({ publicKey });
    if (!cred) throw new DOMException('No passkey was created.', 'NotAllowedError');
    setStatus('Saving your passkey…');
    await finish(await post('/registration', credentialJSON(cred)));
  }

  async function run(action) {
    if (running || finished) return;
    running = true;
    lastAction = action;
    hideError();
    setBusy(true);
    document.body.dataset.state = 'busy';
    try {
      await (action === 'create' ? createPasskey() : signIn());
    } catch (err) {
      if (err instanceof ApiError) handleApiError(err);
      else handleWebAuthnError(err, action);
    } finally {
      running = false;
      setBusy(false);
    }
    if (!ui.error.hidden) { // move focus to the first usable action of the error
      const target = [ui.retry, ui.errorLogin].find((b) => !b.hidden && !b.disabled);
      (target || ui.errorMessage).focus();
    }
  }

  // Related Origin Requests: warn (never block) when the browser says it lacks them.
  async function checkRelatedOrigins() {
    if (!needsRor || typeof PKC.getClientCapabilities !== 'function') return;
    try {
      const caps = await PKC.getClientCapabilities();
      if (caps && caps.relatedOrigins === false) ui.rorNotice.hidden = false;
    } catch (e) { /* capabilities are advisory */ }
  }

  // ---- Start ----
  function init() {
    ui.errorMessage.tabIndex = -1; // focus target when no action button is shown
    document.body.dataset.view = ui.viewCreate.hidden ? 'login' : 'create';
    if (!PKC || !navigator.credentials) {
      finished = true;
      setBusy(false);
      showError('unsupported', window.isSecureContext === false
        ? 'This browser does not support passkeys on this page, because it was not loaded over a secure (HTTPS) connection.'
        : 'This browser does not support passkeys.', { retry: false });
      return;
    }
    if (!flow) {
      finished = true;
      setBusy(false);
      showError('flow_not_found', EXPIRED, { retry: false });
      return;
    }
    ui.signin.addEventListener('click', () => run('signin'));
    ui.form.addEventListener('submit', (e) => { e.preventDefault(); run('create'); });
    ui.showCreate.addEventListener('click', () => showView('create'));
    ui.showLogin.addEventListener('click', () => showView('login'));
    ui.errorLogin.addEventListener('click', () => showView('login'));
    ui.retry.addEventListener('click', () => run(lastAction));
    // Back from the site after a redirect: the flow has been used up.
    window.addEventListener('pageshow', (e) => {
      if (e.persisted && document.body.dataset.state === 'redirecting') {
        showError('flow_expired', EXPIRED, { retry: false });
      }
    });
    document.body.dataset.state = 'ready';
    checkRelatedOrigins();
  }

  init();
})();
