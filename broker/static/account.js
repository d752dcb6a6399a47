/* Latchkey account page (PROTOCOL.md §9): a passkey sign-in on the page's own flow,
 * then the account's passkeys: list, add, rename, remove, sign out. Every word comes
 * from the page (rendered by the server in the page's language). Plain JS, no build step. */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') || '' : '';
  };
  const W = window.LatchkeyWebAuthn;
  const PKC = window.PublicKeyCredential;
  const lang = document.documentElement.lang || 'en';
  const FLOW_API = '/api/v1/flows/' + encodeURIComponent(meta('latchkey-flow'));
  const ACCOUNT_API = '/api/v1/account';
  const needsRor = meta('latchkey-needs-related-origins') === 'true';

  const ui = {
    signedOut: $('view-signed-out'), account: $('view-account'), done: $('view-done'),
    signin: $('signin-button'), name: $('account-name'), list: $('passkeys'),
    addForm: $('add-form'), addName: $('passkey-name'), addButton: $('add-button'),
    signOut: $('sign-out-button'), status: $('status'), error: $('error'),
    errorMessage: $('error-message'), reauth: $('reauth-button'), dismiss: $('dismiss-button'),
    row: $('passkey-row'), ror: $('ror-notice'),
  };

  function word(key) {
    const tpl = $('latchkey-words');
    const el = tpl && tpl.content ? tpl.content.querySelector('[data-word="' + key + '"]') : null;
    return el ? el.textContent.trim() : '';
  }

  // The server's words for an error code, in the page's language.
  function errorText(code) { return word('err-' + code) || word('err-other'); }

  let account = null;   // the last GET /api/v1/account answer
  let busy = false;

  // ---- HTTP ----
  class ApiError extends Error {
    constructor(code, status, body) {
      super(code);
      this.code = code;
      this.status = status;
      this.body = body || {};
    }
  }

  async function call(method, url, body) {
    let res;
    try {
      res = await fetch(url, {
        method,
        credentials: 'same-origin',
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError('network_error', 0);
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      throw new ApiError(data && typeof data.error === 'string' ? data.error : 'other', res.status, data);
    }
    return data;
  }

  // ---- What the page shows ----
  function setStatus(text) { ui.status.textContent = text || ''; }

  function showError(code, opts) {
    ui.errorMessage.textContent = errorText(code);
    ui.reauth.hidden = !(opts && opts.reauth);
    ui.reauth.textContent = word('confirm-button');
    ui.error.hidden = false;
    ui.errorMessage.focus();
  }

  function hideError() { ui.error.hidden = true; }

  function showView(which) {
    ui.signedOut.hidden = which !== 'signed-out';
    ui.account.hidden = which !== 'account';
    ui.done.hidden = which !== 'done';
  }

  // While a step runs every button is off; after it, only the locked ones stay off (the
  // Remove button of an account's only passkey).
  function setBusy(on) {
    busy = on;
    for (const b of document.querySelectorAll('button')) b.disabled = on || b.dataset.locked === 'true';
  }

  const dateFormat = (() => {
    try { return new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }); } catch (e) { return null; }
  })();
  const date = (iso) => {
    const d = new Date(iso);
    return dateFormat ? dateFormat.format(d) : iso.slice(0, 10);
  };

  const label = (p) => p.name || p.authenticator || word('unnamed');

  function render(a) {
    account = a;
    ui.name.textContent = a.email || a.name;
    ui.list.textContent = '';
    const only = a.passkeys.length < 2;
    for (const p of a.passkeys) ui.list.appendChild(row(p, only));
    showView('account');
  }

  function row(p, only) {
    const li = ui.row.content.firstElementChild.cloneNode(true);
    li.dataset.credentialId = p.credential_id;
    li.querySelector('.passkey-name').textContent = label(p);
    const here = li.querySelector('.passkey-here');
    here.textContent = word('this-device');
    here.hidden = !p.this_device;
    const facts = [];
    if (p.name && p.authenticator) facts.push(p.authenticator);
    facts.push(word(p.backed_up || p.backup_eligible ? 'synced' : 'device-bound'));
    facts.push(word('added') + ' ' + date(p.created_at));
    facts.push(p.last_used_at ? word('last-used') + ' ' + date(p.last_used_at) : word('never-used'));
    li.querySelector('.passkey-facts').textContent = facts.join(' · ');

    const form = li.querySelector('.rename-form');
    const input = form.querySelector('input');
    const actions = li.querySelector('.row-actions');
    const confirmBox = li.querySelector('.confirm-remove');
    const remove = li.querySelector('.remove-button');
    if (only) {
      remove.dataset.locked = 'true';
      remove.disabled = true;
      remove.title = word('only-one');
      const hint = document.createElement('p');
      hint.className = 'hint';
      hint.textContent = word('only-one');
      li.appendChild(hint);
    }
    li.querySelector('.rename-button').addEventListener('click', () => {
      input.value = p.name || '';
      form.hidden = false;
      actions.hidden = true;
      input.focus();
    });
    form.querySelector('.cancel-button').addEventListener('click', () => {
      form.hidden = true;
      actions.hidden = false;
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      run(() => rename(p.credential_id, input.value));
    });
    remove.addEventListener('click', () => {
      li.querySelector('.confirm-text').textContent = word('confirm-remove').replace('{name}', label(p));
      confirmBox.hidden = false;
      actions.hidden = true;
      li.querySelector('.confirm-remove-button').focus();
    });
    li.querySelector('.cancel-remove-button').addEventListener('click', () => {
      confirmBox.hidden = true;
      actions.hidden = false;
    });
    li.querySelector('.confirm-remove-button').addEventListener('click', () => {
      run(() => removePasskey(p.credential_id));
    });
    return li;
  }

  // The authenticators learn which passkeys the account still accepts (feature-detected).
  function signalAccepted() {
    if (!account) return Promise.resolve();
    return W.signal('signalAllAcceptedCredentials', {
      rpId: account.rp_id,
      userId: account.user_id,
      allAcceptedCredentialIds: account.passkeys.map((p) => p.credential_id),
    });
  }

  // ---- Steps ----
  async function load() {
    try {
      render(await call('GET', ACCOUNT_API));
    } catch (e) {
      if (e.code === 'account_session_required') {
        account = null;
        showView('signed-out');
        return;
      }
      throw e;
    }
  }

  async function signIn() {
    const answer = await call('POST', FLOW_API + '/authentication/options', {});
    setStatus(word('status-signing-in'));
    const cred = await navigator.credentials.get({ publicKey: W.requestOptions(answer.publicKey) });
    const json = W.credentialJSON(cred);
    try {
      await call('POST', FLOW_API + '/authentication', json);
    } catch (e) {
      if (e.code === 'unknown_credential' && e.body && e.body.credential_id) {
        W.signal('signalUnknownCredential', { rpId: meta('latchkey-rp-id'), credentialId: e.body.credential_id });
      }
      throw e;
    }
    setStatus('');
    await load();
  }

  async function add() {
    const answer = await call('POST', ACCOUNT_API + '/passkeys/options');
    setStatus(word('status-creating'));
    const cred = await navigator.credentials.create({ publicKey: W.creationOptions(answer.publicKey) });
    const body = { credential: W.credentialJSON(cred) };
    if (ui.addName.value.trim() !== '') body.name = ui.addName.value;
    try {
      await call('POST', ACCOUNT_API + '/passkeys', body);
    } catch (e) {
      // A passkey the broker refused stays on the authenticator unless it is told.
      if (e.body && e.body.credential_id) {
        W.signal('signalUnknownCredential', { rpId: account.rp_id, credentialId: e.body.credential_id });
      }
      throw e;
    }
    ui.addName.value = '';
    await load();
    await signalAccepted();
    setStatus(word('status-added'));
  }

  async function rename(id, name) {
    await call('PATCH', ACCOUNT_API + '/passkeys/' + encodeURIComponent(id), { name });
    await load();
    await signalAccepted();
    setStatus(word('status-renamed'));
  }

  async function removePasskey(id) {
    await call('DELETE', ACCOUNT_API + '/passkeys/' + encodeURIComponent(id));
    await load();
    await signalAccepted();
    setStatus(word('status-removed'));
  }

  async function signOut() {
    await call('POST', ACCOUNT_API + '/sign-out');
    account = null;
    setStatus('');
    showView('done');
  }

  // Runs one step at a time, and says what went wrong in the page's language.
  async function run(step, retry) {
    if (busy) return;
    hideError();
    setBusy(true);
    try {
      await step();
    } catch (e) {
      setStatus('');
      if (e && e.name === 'NotAllowedError') showError('cancelled');
      else if (e && e.name === 'InvalidStateError') showError('exists');
      else if (e instanceof ApiError) {
        if (e.code === 'account_session_required') { account = null; showView('signed-out'); }
        if (e.code === 'flow_expired' || e.code === 'flow_not_found') { window.location.reload(); return; }
        showError(e.code, {
          reauth: e.code === 'reauthentication_required',
        });
        pendingAfterReauth = e.code === 'reauthentication_required' ? retry : null;
      } else showError('other');
    } finally {
      setBusy(false);
    }
  }

  let pendingAfterReauth = null;

  async function init() {
    if (!PKC || !navigator.credentials || !W) {
      showError('unsupported');
      ui.signin.disabled = true;
      return;
    }
    if (needsRor && typeof PKC.getClientCapabilities === 'function') {
      try {
        const caps = await PKC.getClientCapabilities();
        if (caps && caps.relatedOrigins === false) ui.ror.hidden = false;
      } catch (e) { /* unknown: try anyway */ }
    }
    ui.signin.addEventListener('click', () => run(signIn));
    ui.addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      run(add, add);
    });
    ui.signOut.addEventListener('click', () => run(signOut));
    ui.dismiss.addEventListener('click', hideError);
    ui.reauth.addEventListener('click', () => {
      const then = pendingAfterReauth;
      pendingAfterReauth = null;
      run(async () => {
        await signIn();
        if (then) await then();
      });
    });
    await run(load);
    document.body.dataset.state = 'ready';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
