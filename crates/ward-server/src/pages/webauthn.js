// ward's WebAuthn glue: turns the server's options (base64url strings) into what
// navigator.credentials expects, and the authenticator's answer back into JSON.
// Buttons opt in with data-webauthn="register" | "signin" | "mfa" | "step-up" | "approve"
// ("approve": data-start names the page that starts the check; the assertion is sent with
// the button's form).
"use strict";
(function () {
  const b64u = {
    enc(buf) {
      const bytes = new Uint8Array(buf);
      let s = "";
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
    dec(str) {
      const s = str.replace(/-/g, "+").replace(/_/g, "/");
      const padded = s + "===".slice((s.length + 3) % 4);
      return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    },
  };

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(json.error_description || "request failed (" + r.status + ")");
      err.code = json.error;
      throw err;
    }
    return json;
  }

  function creationOptions(options) {
    const pk = options.publicKey;
    pk.challenge = b64u.dec(pk.challenge);
    pk.user.id = b64u.dec(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => (c.id = b64u.dec(c.id)));
    return { publicKey: pk };
  }

  function requestOptions(options) {
    const pk = options.publicKey;
    pk.challenge = b64u.dec(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => (c.id = b64u.dec(c.id)));
    return { publicKey: pk };
  }

  async function register(name) {
    const start = await post("/api/mfa/webauthn/register/start", { name });
    const cred = await navigator.credentials.create(creationOptions(start.options));
    return post("/api/mfa/webauthn/register/finish", {
      ceremony: start.ceremony,
      name,
      credential: {
        id: cred.id,
        rawId: b64u.enc(cred.rawId),
        type: cred.type,
        extensions: {},
        response: {
          attestationObject: b64u.enc(cred.response.attestationObject),
          clientDataJSON: b64u.enc(cred.response.clientDataJSON),
        },
      },
    });
  }

  function assertion(a) {
    return {
      id: a.id,
      rawId: b64u.enc(a.rawId),
      type: a.type,
      extensions: {},
      response: {
        authenticatorData: b64u.enc(a.response.authenticatorData),
        clientDataJSON: b64u.enc(a.response.clientDataJSON),
        signature: b64u.enc(a.response.signature),
        userHandle: a.response.userHandle ? b64u.enc(a.response.userHandle) : null,
      },
    };
  }

  async function authenticate(mode, returnTo) {
    const start = await post("/api/mfa/webauthn/authenticate/start", { mode });
    const a = await navigator.credentials.get(requestOptions(start.options));
    return post("/api/mfa/webauthn/authenticate/finish", {
      ceremony: start.ceremony,
      return_to: returnTo,
      credential: assertion(a),
    });
  }

  // A page form approved with a passkey: the page starts the check (CSRF-checked like the
  // form), and the assertion goes back with the form.
  async function approve(button) {
    const form = button.closest("form");
    const r = await fetch(button.dataset.start, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf_token: form.elements.csrf_token.value }),
    });
    const start = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(start.error_description || "request failed (" + r.status + ")");
    const a = await navigator.credentials.get(requestOptions(start.options));
    form.elements.ceremony.value = start.ceremony;
    form.elements.webauthn.value = JSON.stringify(assertion(a));
    form.submit();
  }

  function say(button, text, isError) {
    const out = document.getElementById(button.dataset.status || "webauthn-status");
    if (out) {
      out.textContent = text;
      out.className = isError ? "error" : "muted";
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-webauthn]");
    if (!button) return;
    event.preventDefault();
    if (!window.PublicKeyCredential) {
      say(button, "This browser does not support security keys.", true);
      return;
    }
    button.disabled = true;
    try {
      const mode = button.dataset.webauthn;
      if (mode === "approve") {
        await approve(button);
      } else if (mode === "register") {
        const nameInput = document.getElementById("key-name");
        const done = await register(nameInput ? nameInput.value : "Security key");
        say(button, "Added " + done.name + ".", false);
        window.location.reload();
      } else {
        const done = await authenticate(mode, button.dataset.returnTo || "/");
        if (done.redirect) window.location.assign(done.redirect);
        else if (mode === "step-up" && button.dataset.returnTo) window.location.assign(button.dataset.returnTo);
        else say(button, "Verified.", false);
      }
    } catch (e) {
      if (e.code === "reauth_required") {
        // A stale session: confirm it's you, then come back here.
        window.location.assign("/reauth?return_to=" + encodeURIComponent(window.location.pathname));
        return;
      }
      say(button, e.message || String(e), true);
    } finally {
      button.disabled = false;
    }
  });
})();
