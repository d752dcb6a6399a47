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
  const lang = document.documentElement.lang === 'ja' ? 'ja' : 'en';
  const site = meta('latchkey-site');
  const flow = meta('latchkey-flow');
  const rpId = meta('latchkey-rp-id');
  const siteMode = meta('latchkey-rp-mode') === 'site';
  const needsRor = meta('latchkey-needs-related-origins') === 'true';
  const recoveryToken = meta('latchkey-recovery-token'); // opened from a recovery link (E4)
  // When the flow expires, by this page's clock (it starts after the server's, so the
  // page never gives up before the broker does).
  const secondsLeft = meta('latchkey-flow-seconds-left');
  const flowDeadline = secondsLeft === '' ? Infinity : Date.now() + Math.max(0, Number(secondsLeft) || 0) * 1000;
  const API = '/api/v1/flows/' + encodeURIComponent(flow);
  const PKC = window.PublicKeyCredential;

  const ui = {
    signin: $('signin-button'), create: $('create-button'), form: $('create-form'),
    email: $('email'), displayName: $('display-name'), status: $('status'),
    error: $('error'), errorMessage: $('error-message'), retry: $('retry-button'),
    errorLogin: $('error-show-login'), errorCreate: $('error-show-create'),
    errorOtherDevice: $('error-other-device'), errorBack: $('error-back'),
    viewLogin: $('view-login'), viewCreate: $('view-create'),
    showCreate: $('show-create'), showLogin: $('show-login'), rorNotice: $('ror-notice'),
    username: $('username'), usernameField: $('username-field'),
    viewRecover: $('view-recover'), showRecover: $('show-recover'), recoverForm: $('recover-form'),
    recoverEmail: $('recover-email'), recoverButton: $('recover-button'),
    recoverShowLogin: $('recover-show-login'), viewRecovery: $('view-recovery'),
    recoveryCreate: $('recovery-create-button'),
  };

  // ---- Words, in the page's language (the server picks it: ui_locales, Accept-Language) ----
  // Every word comes from the server (broker/src/i18n/), rendered into a <template>;
  // `say` fills in the blanks ({site}, {rp}, {n}, …).
  function word(key) {
    const tpl = $('latchkey-words');
    const el = tpl && tpl.content ? tpl.content.querySelector('[data-word="' + key + '"]') : null;
    return el ? el.textContent.trim() : '';
  }

  function say(key, blanks) {
    let text = word(key);
    for (const [k, v] of Object.entries(blanks || {})) text = text.split('{' + k + '}').join(String(v));
    return text;
  }


  let lastAction = 'signin'; // what the retry button restarts
  let running = false;       // a ceremony is in progress
  let finished = false;      // redirecting, or the flow is gone: no more ceremonies
  let lockedUntil = 0;       // rate limited: buttons stay off until this time (ms)

  // ---- WebAuthn JSON forms and the Signal API (static/webauthn.js) ----
  const { b64urlEncode, b64urlDecode, requestOptions, creationOptions, credentialJSON, signal } =
    window.LatchkeyWebAuthn;

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
    [ui.signin, ui.create, ui.retry, ui.showCreate, ui.showLogin, ui.errorLogin,
      ui.errorCreate, ui.errorOtherDevice, ui.showRecover, ui.recoverButton, ui.recoverShowLogin, ui.recoveryCreate]
      .forEach((b) => { if (b) b.disabled = off; });
    ui.form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // The views: sign-in, create, the recovery request, and the page a recovery link opens.
  function views() {
    return { login: ui.viewLogin, create: ui.viewCreate, recover: ui.viewRecover, recovery: ui.viewRecovery };
  }

  function currentView() {
    const all = views();
    return Object.keys(all).find((k) => all[k] && !all[k].hidden) || 'login';
  }

  function showView(name) {
    const all = views();
    Object.keys(all).forEach((k) => { if (all[k]) all[k].hidden = k !== name; });
    document.body.dataset.view = name;
    hideError();
    setStatus('');
    if (document.body.dataset.state === 'error' && !finished) document.body.dataset.state = 'ready';
    const focus = { login: ui.signin, create: ui.email, recover: ui.recoverEmail, recovery: ui.recoveryCreate }[name];
    if (focus) focus.focus();
  }

  function showError(code, text, opts) {
    opts = opts || {};
    document.body.dataset.state = 'error';
    document.body.dataset.error = code;
    setStatus('');
    ui.retry.hidden = opts.retry === false;
    ui.errorLogin.hidden = !opts.signInInstead;
    ui.errorCreate.hidden = !opts.create;
    ui.errorOtherDevice.hidden = !opts.otherDevice;
    if (ui.errorBack) ui.errorBack.hidden = !opts.back;
    ui.error.classList.toggle('info', opts.info === true);
    ui.error.hidden = false;
    ui.errorMessage.textContent = text;
  }

  function hideError() {
    ui.error.hidden = true;
    ui.errorMessage.textContent = '';
    delete document.body.dataset.error;
  }

  // The flow can no longer be used: it has issued its code (the page came back, e.g. with
  // the Back button), expired, or is unknown. The views go, so that nothing looks usable,
  // and the message says so with the way back to the site.
  function endFlow(code, text) {
    finished = true;
    stopConditional();
    const all = views();
    Object.keys(all).forEach((k) => { if (all[k]) all[k].hidden = true; });
    document.body.dataset.view = 'none';
    setStatus('');
    showError(code, text, { retry: false, back: true, info: true });
    setBusy(running);
  }

  const flowIsOver = () => Date.now() >= flowDeadline;

  // ---- Errors in plain words ----
  const EXPIRED = word('gone');
  const NO_RETRY = ['flow_not_found', 'flow_expired', 'flow_binding_mismatch', 'recovery_link_expired', 'recovery_unavailable'];
  const model = (name) => (name ? say('model-named', { name }) : say('model-unknown'));

  // English: the server's own message (it names the case exactly); Japanese: the page's
  // words for the code, or for the policy's reason.
  function apiText(err) {
    const code = err.code;
    const reason = typeof err.body.reason === 'string' ? err.body.reason : '';
    if (code === 'flow_not_found' || code === 'flow_expired') return EXPIRED;
    if (lang === 'en' && err.serverMessage) return err.serverMessage;
    if (reason && word('reason-' + reason)) {
      return say('reason-' + reason, { site, model: model(err.body.authenticator) });
    }
    if (code === 'invalid_request' && err.body.rp_id) return say('related-origins', { rp: err.body.rp_id });
    return word('api-' + code) || err.serverMessage || say('other', { code });
  }

  function handleApiError(err) {
    const code = err.code;
    if (code === 'flow_expired' || code === 'flow_not_found') {
      return err.body.finished === true
        ? endFlow('flow_finished', word('finished'))
        : endFlow(code, EXPIRED);
    }
    // A passkey the broker does not know (revoked, or just refused by the site's policy
    // at creation): tell the password manager to forget it.
    if (err.body.credential_id && (code === 'unknown_credential' || err.body.reason)) {
      signal('signalUnknownCredential', { rpId: err.body.rp_id || rpId, credentialId: err.body.credential_id });
    }
    let text = apiText(err);
    if (code === 'rate_limited' && err.retryAfter) {
      const n = err.retryAfter;
      text = n === 1 ? say('wait-second') : say('wait-seconds', { n });
      lockedUntil = Date.now() + n * 1000;
      setTimeout(() => setBusy(running), n * 1000 + 50);
    }
    if (NO_RETRY.indexOf(code) >= 0) finished = true; // the flow cannot be used again
    showError(code, text, { retry: NO_RETRY.indexOf(code) < 0, back: code === 'flow_binding_mismatch' });
  }

  function handleWebAuthnError(err, action) {
    const name = (err && err.name) || 'Error';
    switch (name) {
      case 'NoPasskeyError':
        return err.elsewhere
          ? showError('no_passkey_elsewhere', word('no-passkey-elsewhere'), { retry: false, create: true, info: true })
          : showError('no_passkey', word('no-passkey'), { retry: false, create: true, otherDevice: true, info: true });
      case 'NotAllowedError':
        return showError(name, say('not-allowed'));
      case 'InvalidStateError':
        if (action === 'create') {
          return showError(name, say('exists'), { retry: false, signInInstead: true });
        }
        break;
      case 'SecurityError':
        if (siteMode && needsRor) return showError(name, say('ror-refused', { rp: rpId }));
        return showError(name, say('security', { rp: rpId }));
      case 'AbortError':
        return showError(name, say('aborted'));
    }
    return showError(name, say('webauthn-other', { name }));
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

  // ---- PRF (opt-in per site): the outputs go to the site in the URL fragment of the
  // redirect, which browsers never send to a server; the broker never receives them. ----
  function decodePrfValues(v) {
    if (!v || typeof v.first !== 'string') return null;
    const out = { first: b64urlDecode(v.first) };
    if (typeof v.second === 'string') out.second = b64urlDecode(v.second);
    return out;
  }

  // The options' prf salts as BufferSource, whatever parse*FromJSON did with them.
  function withPrf(options, json) {
    const prf = json.extensions && json.extensions.prf;
    if (!prf || !prf.eval) return options;
    const evalValues = decodePrfValues(prf.eval);
    if (!evalValues) return options;
    options.extensions = Object.assign({}, options.extensions || {}, { prf: { eval: evalValues } });
    return options;
  }

  function prfOutputs(cred) {
    try {
      const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
      const prf = ext && ext.prf;
      if (!prf) return { enabled: false, first: null, second: null };
      const r = prf.results || {};
      return {
        enabled: prf.enabled === true || !!r.first,
        first: r.first ? b64urlEncode(r.first) : null,
        second: r.second ? b64urlEncode(r.second) : null,
      };
    } catch (e) {
      return { enabled: false, first: null, second: null };
    }
  }

  // What the broker receives: the credential without any PRF output.
  function withoutPrf(json) {
    const ext = json.clientExtensionResults;
    if (ext && typeof ext === 'object' && 'prf' in ext) {
      const copy = Object.assign({}, ext);
      delete copy.prf;
      json.clientExtensionResults = copy;
    }
    return json;
  }

  function prfFragment(asked, out) {
    if (!asked) return '';
    if (!out || !out.first) return 'latchkey_prf=unavailable';
    let f = 'latchkey_prf=' + out.first;
    if (out.second) f += '&latchkey_prf_next=' + out.second;
    return f;
  }

  // A new passkey that supports PRF but gave no output at creation (most authenticators
  // evaluate PRF only when signing in): one local assertion over a random challenge
  // yields it. The assertion is not sent anywhere.
  async function prfAfterCreate(publicKey, cred) {
    try {
      const got = await navigator.credentials.get({ publicKey: {
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        rpId: publicKey.rp && publicKey.rp.id,
        allowCredentials: [{ type: 'public-key', id: cred.rawId }],
        userVerification: (publicKey.authenticatorSelection || {}).userVerification || 'preferred',
        extensions: { prf: publicKey.extensions.prf },
      } });
      return got ? prfOutputs(got) : null;
    } catch (e) {
      return null;
    }
  }

  async function finish(result, fragment) {
    const target = safeRedirect(result.redirect_to);
    if (!target) throw new ApiError('bad_response');
    finished = true;
    stopConditional();
    document.body.dataset.state = 'redirecting';
    setStatus(say('signed-in'));
    try { await sendSignals(result.signals); } catch (e) { /* best effort */ }
    window.location.assign(fragment ? target.split('#')[0] + '#' + fragment : target);
  }

  function needOptions(answer) {
    if (!answer.publicKey || typeof answer.publicKey !== 'object') throw new ApiError('bad_response');
    return answer.publicKey;
  }

  // ---- Mediation ----
  // Conditional: passkeys offered in the username field's autofill, running in the
  // background while the page is open. Immediate: where getClientCapabilities() says
  // so, the button first asks for a passkey of this device only, and falls back to the
  // usual prompt (phones, security keys) when there is none.
  let conditional = null;   // { controller } of the pending autofill request
  let immediate = false;
  let conditionalTimer = 0;

  function stopConditional() {
    clearTimeout(conditionalTimer);
    if (conditional) {
      conditional.controller.abort();
      conditional = null;
    }
  }

  async function verifyAssertion(publicKey, json, cred) {
    setStatus(say('checking'));
    const out = prfOutputs(cred);
    const result = await post('/authentication', withoutPrf(credentialJSON(cred)));
    await finish(result, prfFragment(!!(publicKey.extensions && publicKey.extensions.prf), out));
  }

  function startConditional() {
    if (finished || running || conditional || document.body.dataset.conditional !== 'on') return;
    if (flowIsOver()) return;
    if (ui.viewLogin.hidden) return;
    const c = { controller: new AbortController(), settled: null };
    conditional = c;
    c.settled = conditionalRequest(c).catch(() => {});
  }

  async function conditionalRequest(c) {
    const signal = c.controller.signal;
    let cred = null;
    let json = null;
    let publicKey = null;
    try {
      json = needOptions(await post('/authentication/options', {}));
      if (signal.aborted) return;
      publicKey = withPrf(requestOptions(json), json);
      // The challenge lives a few minutes: ask again before it expires.
      conditionalTimer = setTimeout(() => { stopConditional(); startConditional(); }, 240000);
      cred = await navigator.credentials.get({ publicKey, mediation: 'conditional', signal });
    } catch (e) {
      return; // aborted, or autofill unavailable: the button still works
    } finally {
      if (conditional === c) { conditional = null; clearTimeout(conditionalTimer); }
    }
    if (!cred || finished || running) return;
    running = true;
    lastAction = 'signin';
    hideError();
    setBusy(true);
    document.body.dataset.state = 'busy';
    document.body.dataset.mediation = 'conditional';
    try {
      await verifyAssertion(publicKey, json, cred);
    } catch (err) {
      if (err instanceof ApiError) handleApiError(err);
      else handleWebAuthnError(err, 'signin');
    } finally {
      running = false;
      setBusy(false);
    }
  }

  // A NotAllowedError that comes this soon after get(), while the page had the focus, is
  // not a person closing the prompt: the browser had no passkey of this site to offer
  // and no other way to look for one (immediate mediation, or an authenticator holding
  // none). A dismissed prompt takes a person longer.
  const QUICK_REFUSAL_MS = 600;

  class NoPasskeyError extends Error {
    constructor(elsewhere) {
      super('No passkey of this site was offered.');
      this.name = 'NoPasskeyError';
      this.elsewhere = elsewhere; // when the person had asked for another device
    }
  }

  // The browser's passkey prompt; `hints` (WebAuthn L3) steer it, e.g. to another device.
  async function promptForPasskey(publicKey, hints) {
    const options = hints ? Object.assign({}, publicKey, { hints: hints }) : publicKey;
    const focused = document.hasFocus();
    const started = Date.now();
    try {
      return await navigator.credentials.get({ publicKey: options });
    } catch (e) {
      if (e && e.name === 'NotAllowedError' && focused && Date.now() - started < QUICK_REFUSAL_MS) {
        throw new NoPasskeyError(!!hints);
      }
      throw e;
    }
  }

  // Keep nothing async between the click and navigator.credentials.* except
  // the one options fetch: older Safari drops the user gesture otherwise.
  async function signIn(hints) {
    setStatus(say('preparing-sign-in'));
    const json = needOptions(await post('/authentication/options', {}));
    const publicKey = withPrf(requestOptions(json), json);
    setStatus(say('follow-prompt-use'));
    let cred = null;
    if (immediate && !hints) {
      try {
        cred = await navigator.credentials.get({ publicKey, mediation: 'immediate' });
        document.body.dataset.mediation = 'immediate';
      } catch (e) {
        // No passkey on this device, the picker dismissed, or a browser that refuses
        // immediate mediation for these options: the usual prompt, with the same
        // challenge, which nothing has used yet.
        document.body.dataset.mediation = 'immediate-fallback';
        document.body.dataset.immediateError = (e && e.name) || 'Error';
      }
    }
    if (!cred) cred = await promptForPasskey(publicKey, hints);
    if (!cred) throw new DOMException('No passkey was chosen.', 'NotAllowedError');
    await verifyAssertion(publicKey, json, cred);
  }

  // Creates a passkey: `optionsPath` with `optionsBody`, then `finishPath` with the
  // credential as `wrap` puts it.
  async function createWith(optionsPath, optionsBody, finishPath, wrap) {
    setStatus(say('preparing-create'));
    const json = needOptions(await post(optionsPath, optionsBody));
    const publicKey = withPrf(creationOptions(json), json);
    const prfAsked = !!(publicKey.extensions && publicKey.extensions.prf);
    setStatus(say('follow-prompt-create'));
    const cred = await navigator.credentials.create({ publicKey });
    if (!cred) throw new DOMException('No passkey was created.', 'NotAllowedError');
    setStatus(say('saving'));
    let out = prfOutputs(cred);
    const result = await post(finishPath, wrap(withoutPrf(credentialJSON(cred))));
    if (prfAsked && out.enabled && !out.first) {
      setStatus(say('unlocking'));
      out = (await prfAfterCreate(publicKey, cred)) || out;
    }
    await finish(result, prfFragment(prfAsked, out));
  }

  function createPasskey() {
    const body = {};
    const email = ui.email.value.trim();
    const displayName = ui.displayName.value.trim();
    if (email) body.email = email;
    if (displayName) body.display_name = displayName;
    return createWith('/registration/options', body, '/registration', (c) => c);
  }

  // Recovery (E4): a link to a confirmed address; the answer never says whether an
  // account uses it.
  async function requestRecovery() {
    const email = ui.recoverEmail.value.trim();
    if (!email) throw new ApiError('invalid_request', say('enter-email'), { field: 'email' });
    setStatus(say('sending-link'));
    await post('/recovery', { email: email });
    document.body.dataset.recovery = 'sent';
    setStatus(say('link-sent'));
  }

  // Opened from a recovery link: a new passkey for the existing account.
  function recoverPasskey() {
    const token = recoveryToken;
    return createWith('/recovery/registration/options', { token: token }, '/recovery/registration',
      (c) => ({ token: token, credential: c }));
  }

  const ACTIONS = {
    create: createPasskey,
    signin: () => signIn(),
    'other-device': () => signIn(['hybrid']),
    recover: requestRecovery,
    recovery: recoverPasskey,
  };

  async function run(action) {
    if (running || finished) return;
    if (flowIsOver()) return endFlow('flow_expired', EXPIRED); // no ceremony on a dead flow
    running = true;
    // The autofill request first gives way: its options call must not land after ours,
    // and a browser runs one WebAuthn request at a time.
    const background = conditional;
    stopConditional();
    if (background) await background.settled;
    lastAction = action;
    hideError();
    setBusy(true);
    document.body.dataset.state = 'busy';
    try {
      await (ACTIONS[action] || ACTIONS.signin)();
    } catch (err) {
      if (err instanceof ApiError) handleApiError(err);
      else handleWebAuthnError(err, action);
    } finally {
      running = false;
      setBusy(false);
    }
    if (!ui.error.hidden) { // move focus to the first usable action of the error
      const target = [ui.retry, ui.errorLogin, ui.errorCreate, ui.errorOtherDevice, ui.errorBack]
        .find((b) => b && !b.hidden && !b.disabled);
      (target || ui.errorMessage).focus();
    }
  }

  // Capabilities: Related Origin Requests (warn, never block) and immediate mediation;
  // conditional mediation has its own probe. All advisory.
  async function checkCapabilities() {
    let caps = null;
    if (typeof PKC.getClientCapabilities === 'function') {
      try { caps = await PKC.getClientCapabilities(); } catch (e) { caps = null; }
    }
    if (caps && needsRor && caps.relatedOrigins === false) ui.rorNotice.hidden = false;
    immediate = !!(caps && caps.immediateGet === true);
    document.body.dataset.immediate = immediate ? 'on' : 'off';
    let autofill = false;
    if (typeof PKC.isConditionalMediationAvailable === 'function') {
      try { autofill = await PKC.isConditionalMediationAvailable(); } catch (e) { autofill = false; }
    }
    document.body.dataset.conditional = autofill ? 'on' : 'off';
    if (autofill) {
      // The request starts when the person reaches the field, so that a passkey is
      // never used unless they pick it there.
      ui.usernameField.hidden = false;
      ui.username.addEventListener('focus', startConditional);
    }
  }

  // ---- Start ----
  function init() {
    ui.errorMessage.tabIndex = -1; // focus target when no action button is shown
    document.body.dataset.view = currentView();
    if (!PKC || !navigator.credentials) {
      finished = true;
      setBusy(false);
      showError('unsupported', window.isSecureContext === false ? say('no-https') : say('unsupported'), { retry: false });
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
    ui.showCreate.addEventListener('click', () => { stopConditional(); showView('create'); });
    ui.showLogin.addEventListener('click', () => showView('login'));
    ui.errorLogin.addEventListener('click', () => showView('login'));
    ui.retry.addEventListener('click', () => run(lastAction));
    ui.errorCreate.addEventListener('click', () => showView('create'));
    ui.errorOtherDevice.addEventListener('click', () => run('other-device'));
    if (ui.showRecover) {
      ui.showRecover.addEventListener('click', () => { stopConditional(); showView('recover'); });
      ui.recoverForm.addEventListener('submit', (e) => { e.preventDefault(); run('recover'); });
      ui.recoverShowLogin.addEventListener('click', () => showView('login'));
    }
    if (ui.recoveryCreate) ui.recoveryCreate.addEventListener('click', () => run('recovery'));
    // Back from the site (the page restored from the back/forward cache): after a
    // redirect the flow has issued its code; otherwise it may have expired meanwhile.
    window.addEventListener('pageshow', (e) => {
      if (!e.persisted) return;
      if (document.body.dataset.state === 'redirecting') endFlow('flow_finished', word('finished'));
      else if (!finished && flowIsOver()) endFlow('flow_expired', EXPIRED);
    });
    // The page says so itself when its flow expires, before anyone presses a button.
    if (Number.isFinite(flowDeadline)) {
      setTimeout(() => { if (!finished && !running) endFlow('flow_expired', EXPIRED); },
        Math.max(0, flowDeadline - Date.now()));
    }
    checkCapabilities().finally(() => {
      if (!document.body.dataset.state) document.body.dataset.state = 'ready';
    });
  }

  init();
})();
