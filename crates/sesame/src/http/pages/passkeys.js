// The passkey pages' script (served by crates/sesame/src/http/pages/passkeys.rs):
//   /passkeys  sign in (password, then a code if the account asks for one, or a passkey), then
//              register a passkey with navigator.credentials.create;
//   /sign-in   sign in with a discoverable passkey alone (navigator.credentials.get).
// It talks only to this origin's JSON API. Tokens stay in this page's memory: nothing is written
// to localStorage, sessionStorage or cookies. Text comes from the page (#passkey-words, in the
// page's language) and reaches the DOM through textContent only, never as HTML.
// base64url <-> ArrayBuffer is converted here by hand (RFC 4648 §5, no padding), not with
// PublicKeyCredential.parseCreationOptionsFromJSON / toJSON, which older browsers lack.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const words = JSON.parse($('passkey-words').textContent);
  const say = (key, args) => {
    let text = words[key] || words['page-passkey-error-other'];
    for (const [name, value] of Object.entries(args || {})) {
      text = text.split('{' + name + '}').join(value);
    }
    return text;
  };

  // --- what the page shows ---------------------------------------------------------------------

  const errorBox = $('error');
  const statusBox = $('status');
  function showError(key, args) {
    statusBox.hidden = true;
    errorBox.textContent = say(key, args);
  }
  function showStatus(key, args, ok) {
    errorBox.textContent = '';
    statusBox.className = ok ? 'ok' : '';
    statusBox.textContent = say(key, args);
    statusBox.hidden = false;
  }
  function clearMessages() {
    errorBox.textContent = '';
    statusBox.hidden = true;
    statusBox.textContent = '';
  }
  // Shows form `id` alone; `focus` moves the caret to its first field (after a step, not when
  // the page opens, where it would only pop up a phone's keyboard).
  function show(id, focus) {
    for (const form of document.querySelectorAll('form')) form.hidden = form.id !== id;
    const first = $(id) && $(id).querySelector('input');
    if (first && focus !== false) first.focus();
  }
  // Runs `work` with `button` disabled; a refusal becomes the page's error.
  async function busy(button, work) {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await work();
    } catch (e) {
      if (e instanceof Refusal) showError(e.key);
      else showError(ceremonyWord(e));
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  // --- base64url and the WebAuthn JSON forms ---------------------------------------------------

  function fromB64url(text) {
    const b64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }
  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = '';
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  // A copy of a JSON value without its null members: the WebAuthn dictionaries take a member
  // or leave it out, and a null where an enum belongs is a TypeError.
  function withoutNulls(value) {
    if (Array.isArray(value)) return value.map(withoutNulls);
    if (value && typeof value === 'object') {
      const out = {};
      for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v);
      return out;
    }
    return value;
  }
  const withId = (descriptor) => Object.assign({}, descriptor, { id: fromB64url(descriptor.id) });

  // The server's `options` ({ publicKey: PublicKeyCredentialCreationOptionsJSON }) as the
  // browser takes them: the challenge, the user id and the excluded ids as buffers.
  function creationOptions(options) {
    const publicKey = withoutNulls(options.publicKey);
    publicKey.challenge = fromB64url(publicKey.challenge);
    publicKey.user = Object.assign({}, publicKey.user, { id: fromB64url(publicKey.user.id) });
    if (publicKey.excludeCredentials) {
      publicKey.excludeCredentials = publicKey.excludeCredentials.map(withId);
    }
    return { publicKey };
  }
  function requestOptions(options) {
    const publicKey = withoutNulls(options.publicKey);
    publicKey.challenge = fromB64url(publicKey.challenge);
    if (publicKey.allowCredentials) {
      publicKey.allowCredentials = publicKey.allowCredentials.map(withId);
    }
    return { publicKey };
  }
  // The transports the server knows; another (a newer one) is left out rather than refused.
  const TRANSPORTS = ['usb', 'nfc', 'ble', 'internal', 'hybrid'];
  function registrationJSON(credential) {
    const r = credential.response;
    const response = {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
    };
    if (typeof r.getTransports === 'function') {
      response.transports = r.getTransports().filter((t) => TRANSPORTS.includes(t));
    }
    const extensions = {};
    const results = credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
    if (results.credProps && typeof results.credProps.rk === 'boolean') {
      extensions.credProps = { rk: results.credProps.rk };
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response,
      extensions,
    };
  }
  function assertionJSON(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toB64url(r.clientDataJSON),
        authenticatorData: toB64url(r.authenticatorData),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null,
      },
      extensions: {},
    };
  }

  // --- the API ---------------------------------------------------------------------------------

  // A refusal the page explains with the message `key`.
  class Refusal extends Error {
    constructor(key) {
      super(key);
      this.key = key;
    }
  }
  // What the page says for a problem `code` (RFC 9457 body) or, without one, an HTTP status.
  // `own` maps the codes whose meaning depends on the step (a wrong credential at the password
  // step is a wrong password; at the passkey step, an unknown passkey).
  function problemWord(status, code, own) {
    if (own && own[code]) return own[code];
    switch (code) {
      case 'invalid_credentials': return 'page-passkey-error-credentials';
      case 'invalid_second_factor': return 'page-passkey-error-code';
      case 'invalid_challenge': return 'page-passkey-error-expired';
      case 'account_disabled': return 'page-passkey-error-disabled';
      case 'email_not_verified': return 'page-passkey-error-unverified';
      case 'rate_limited': return 'page-passkey-error-too-many';
      case 'passkeys_unavailable': return 'page-passkey-error-origin';
      case 'invalid_token':
      case 'missing_token':
      case 'insufficient_user_authentication': return 'page-passkey-error-signed-out';
      default: break;
    }
    if (status === 429) return 'page-passkey-error-too-many';
    if (status === 503) return 'page-passkey-error-busy';
    return 'page-passkey-error-other';
  }
  async function api(path, body, token, own) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    let response;
    try {
      response = await fetch(path, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        // No cookie goes either way (in cookie mode the refresh token would otherwise land in
        // one): what the API hands out stays in this page's memory.
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (e) {
      throw new Refusal('page-passkey-error-network');
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) throw new Refusal(problemWord(response.status, data && data.code, own));
    if (!data || typeof data !== 'object') throw new Refusal('page-passkey-error-other');
    return data;
  }

  // What the page says when the browser's ceremony ends in `error` (a DOMException, WebAuthn
  // §5.1.3 / §5.1.4 name the cases).
  function ceremonyWord(error) {
    switch (error && error.name) {
      case 'NotAllowedError':
      case 'AbortError': return 'page-passkey-error-cancelled';
      case 'InvalidStateError': return 'page-passkey-error-exists';
      case 'SecurityError': return 'page-passkey-error-origin';
      case 'NotSupportedError': return 'page-passkey-error-unsupported';
      default: return 'page-passkey-error-other';
    }
  }

  // Whether this browser can use passkeys here; if not, says why and returns false.
  function supported() {
    if (!window.isSecureContext) {
      showError('page-passkey-error-insecure');
      return false;
    }
    if (!window.PublicKeyCredential || !navigator.credentials || !navigator.credentials.create) {
      showError('page-passkey-error-unsupported');
      return false;
    }
    return true;
  }

  // Signs in with a discoverable passkey and returns the token pair.
  async function passkeySignIn() {
    const start = await api('/api/v1/auth/passkey/options', {});
    showStatus('page-passkey-working');
    const credential = await navigator.credentials.get(requestOptions(start.options));
    if (!credential) throw new Refusal('page-passkey-error-cancelled');
    return api('/api/v1/auth/passkey/login', {
      flow_id: start.flow_id,
      credential: assertionJSON(credential),
    }, null, { invalid_second_factor: 'page-passkey-error-unknown-passkey' });
  }
  const emailOf = (pair) => (pair.user && pair.user.email) || '';

  // --- /sign-in ----------------------------------------------------------------------------------

  const signInButton = $('passkey-sign-in');
  if (signInButton) {
    if (supported()) {
      signInButton.hidden = false;
      signInButton.addEventListener('click', () => busy(signInButton, async () => {
        clearMessages();
        const pair = await passkeySignIn();
        signInButton.hidden = true;
        showStatus('page-passkey-signed-in-as', { email: emailOf(pair) }, true);
      }));
    }
  }

  // --- /passkeys ---------------------------------------------------------------------------------

  const passwordForm = $('password-form');
  if (passwordForm && supported()) {
    // Held only here, for this page's life.
    let accessToken = null;
    let mfaToken = null;
    // With a passkey among the account's factors: the request options of the second step.
    let secondStepOptions = null;

    const signedIn = (pair) => {
      accessToken = pair.access_token;
      mfaToken = null;
      $('password').value = '';
      $('code').value = '';
      clearMessages();
      $('signed-in').textContent = say('page-passkey-signed-in-as', { email: emailOf(pair) });
      show('add-form');
    };

    show('password-form', false);
    passwordForm.addEventListener('submit', (event) => {
      event.preventDefault();
      busy($('sign-in'), async () => {
        clearMessages();
        const answer = await api('/api/v1/auth/login', {
          email: $('email').value.trim(),
          password: $('password').value,
        }, null, { validation_failed: 'page-passkey-error-credentials' });
        if (answer.mfa_required) {
          mfaToken = answer.mfa_token;
          secondStepOptions = answer.passkey_options || null;
          show('code-form');
        } else {
          signedIn(answer);
        }
      });
    });

    // A passkey signs in on its own, in place of the password.
    $('use-passkey').addEventListener('click', () => busy($('use-passkey'), async () => {
      clearMessages();
      signedIn(await passkeySignIn());
    }));
    // In the second step: one of the account's passkeys answers the password's challenge (or,
    // when the answer offered none, signs in on its own).
    $('code-use-passkey').addEventListener('click', () => busy($('code-use-passkey'), async () => {
      clearMessages();
      if (!secondStepOptions) {
        signedIn(await passkeySignIn());
        return;
      }
      showStatus('page-passkey-working');
      const credential = await navigator.credentials.get(requestOptions(secondStepOptions));
      if (!credential) throw new Refusal('page-passkey-error-cancelled');
      signedIn(await api('/api/v1/auth/login/mfa', {
        mfa_token: mfaToken,
        credential: assertionJSON(credential),
      }, null, { invalid_second_factor: 'page-passkey-error-unknown-passkey' }));
    }));

    $('code-form').addEventListener('submit', (event) => {
      event.preventDefault();
      busy($('verify'), async () => {
        clearMessages();
        // Six digits are the authenticator app's code; anything else is taken for a recovery
        // code (the server reads those forgivingly: case, dashes, spaces).
        const typed = $('code').value.trim();
        const compact = typed.replace(/\s+/g, '');
        const answer = /^[0-9]{6}$/.test(compact) ? { code: compact } : { recovery_code: typed };
        const pair = await api('/api/v1/auth/login/mfa',
          Object.assign({ mfa_token: mfaToken }, answer), null,
          { validation_failed: 'page-passkey-error-code' });
        signedIn(pair);
      });
    });

    $('add-form').addEventListener('submit', (event) => {
      event.preventDefault();
      busy($('add'), async () => {
        clearMessages();
        const name = $('name').value.trim();
        const start = await api('/api/v1/users/me/factors/passkeys/options', {}, accessToken);
        showStatus('page-passkey-working');
        const credential = await navigator.credentials.create(creationOptions(start.options));
        if (!credential) throw new Refusal('page-passkey-error-cancelled');
        const added = await api('/api/v1/users/me/factors/passkeys', {
          registration_id: start.registration_id,
          name,
          credential: registrationJSON(credential),
        }, accessToken, {
          validation_failed: 'page-passkey-error-name',
          invalid_second_factor: 'page-passkey-error-not-added',
        });
        $('name').value = '';
        showStatus('page-passkey-added', { name }, true);
        $('try-it').hidden = false;
        const codes = Array.isArray(added.recovery_codes) ? added.recovery_codes : [];
        if (codes.length > 0) {
          const list = $('recovery-codes');
          list.replaceChildren(...codes.map((code) => {
            const item = document.createElement('li');
            item.textContent = String(code);
            return item;
          }));
          $('recovery').hidden = false;
        }
      });
    });
  }
})();
