// messages: progressive enhancement only; every page works without this file.
// - show/hide buttons on password inputs;
// - the live password strength meter, which asks the server (POST /password-strength) for the
//   same verdict the form will get, debounced while typing.
(function () {
  'use strict';

  function setupToggles() {
    var buttons = document.querySelectorAll('button[data-toggle-for]');
    Array.prototype.forEach.call(buttons, function (button) {
      var input = document.getElementById(button.getAttribute('data-toggle-for'));
      if (!input) { return; }
      button.hidden = false;
      button.addEventListener('click', function () {
        var show = input.type === 'password';
        input.type = show ? 'text' : 'password';
        button.textContent = show ? 'Hide' : 'Show';
        button.setAttribute('aria-pressed', show ? 'true' : 'false');
        button.setAttribute('aria-label', show ? 'Hide password' : 'Show password');
      });
    });
    // Never submit a password as visible text field state: hide again on submit.
    Array.prototype.forEach.call(document.querySelectorAll('form'), function (form) {
      form.addEventListener('submit', function () {
        Array.prototype.forEach.call(form.querySelectorAll('button[data-toggle-for]'), function (button) {
          var input = document.getElementById(button.getAttribute('data-toggle-for'));
          if (input && input.type === 'text') { input.type = 'password'; }
        });
      });
    });
  }

  var LABELS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'];

  function capitalise(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  function contextOf(form) {
    var username = form.getAttribute('data-username') || '';
    var name = form.getAttribute('data-name') || '';
    var u = form.querySelector('input[name="username"]');
    var n = form.querySelector('input[name="name"]');
    if (u && u.value) { username = u.value; }
    if (n && n.value) { name = n.value; }
    return { username: username, name: name };
  }

  function setupMeter(meter) {
    var input = document.getElementById(meter.getAttribute('data-meter-for'));
    if (!input || !input.form || !window.fetch) { return; }
    var verdictText = meter.querySelector('.meter-verdict');
    var reasons = meter.querySelector('.meter-reasons');
    var timer = null;
    var sequence = 0;

    function show(verdict) {
      var score = Math.max(0, Math.min(4, verdict.score | 0));
      meter.className = 'meter score-' + score + (verdict.acceptable ? ' ok' : ' weak');
      verdictText.textContent = LABELS[score] + (verdict.acceptable
        ? ' — this password is accepted.'
        : ' — not accepted yet.');
      reasons.textContent = '';
      var items = (verdict.problems || []).concat(verdict.suggestions || []);
      items.slice(0, 4).forEach(function (text) {
        var li = document.createElement('li');
        li.textContent = capitalise(text);
        reasons.appendChild(li);
      });
      meter.hidden = false;
    }

    function note(text) {
      meter.className = 'meter';
      verdictText.textContent = text;
      reasons.textContent = '';
      meter.hidden = false;
    }

    function check() {
      var password = input.value;
      var mine = ++sequence;
      if (!password) { meter.hidden = true; return; }
      var context = contextOf(input.form);
      fetch('/password-strength', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ password: password, username: context.username, name: context.name })
      }).then(function (response) {
        if (mine !== sequence) { return; }
        if (response.status === 429) {
          note('Strength check paused for a moment; the password is still checked when you submit.');
          return;
        }
        if (!response.ok) { note('Strength check unavailable; the password is checked when you submit.'); return; }
        return response.json().then(function (verdict) {
          if (mine === sequence) { show(verdict); }
        });
      }).catch(function () {
        if (mine === sequence) { note('Strength check unavailable; the password is checked when you submit.'); }
      });
    }

    input.addEventListener('input', function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(check, 250);
    });
    if (input.value) { check(); }
  }

  function start() {
    setupToggles();
    Array.prototype.forEach.call(document.querySelectorAll('[data-meter-for]'), setupMeter);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
