// Passkeys and security keys on the login pages. Without JavaScript or
// WebAuthn the buttons stay hidden and the pages work as before.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  function decode(text) {
    var s = text.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) {
      s += '=';
    }
    var bin = atob(s);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      bytes[i] = bin.charCodeAt(i);
    }
    return bytes.buffer;
  }
  function encode(buffer) {
    var bytes = new Uint8Array(buffer);
    var s = '';
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  // Server options (binary values in base64url) as the browser wants them.
  function requestOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = decode(pk.challenge);
    if (pk.allowCredentials) {
      pk.allowCredentials = pk.allowCredentials.map(function (c) {
        return Object.assign({}, c, { id: decode(c.id) });
      });
    }
    return { publicKey: pk };
  }
  // The browser's answer as the server reads it.
  function assertion(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: encode(r.authenticatorData),
        clientDataJSON: encode(r.clientDataJSON),
        signature: encode(r.signature),
        userHandle: r.userHandle ? encode(r.userHandle) : null
      },
      extensions: {}
    };
  }
  function fail(message) {
    var box = document.getElementById('webauthn-error');
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }
  // The second step: options were rendered into the page.
  var second = document.getElementById('webauthn-button');
  if (second) {
    second.hidden = false;
    second.addEventListener('click', function (event) {
      event.preventDefault();
      var form = second.form;
      var options = JSON.parse(document.getElementById('webauthn-options').textContent);
      navigator.credentials.get(requestOptions(options)).then(function (credential) {
        form.elements.credential.value = JSON.stringify(assertion(credential));
        form.elements.webauthn.value = '1';
        form.submit();
      }, function () {
        fail('The passkey or security key did not answer. Try again, or use a code.');
      });
    });
  }
  // A passwordless login: the options come from the API on click.
  var passkey = document.getElementById('passkey-button');
  if (passkey) {
    passkey.hidden = false;
    passkey.addEventListener('click', function (event) {
      event.preventDefault();
      var form = passkey.form;
      fetch(passkey.getAttribute('data-start'), { method: 'POST', credentials: 'omit' })
        .then(function (response) {
          if (!response.ok) {
            throw new Error('start');
          }
          return response.json();
        })
        .then(function (started) {
          form.elements.ceremony_id.value = started.ceremony_id;
          return navigator.credentials.get(requestOptions(started.options));
        })
        .then(function (credential) {
          form.elements.credential.value = JSON.stringify(assertion(credential));
          form.submit();
        })
        .catch(function () {
          fail('No passkey was used. Try again, or sign in with your password.');
        });
    });
  }
})();
