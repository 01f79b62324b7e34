// messages: progressive enhancement only; every page works without this file.
// - show/hide buttons on password inputs;
// - the live password strength meter, which asks the server (POST /password-strength) for the
//   same verdict the form will get, debounced while typing;
// - times in the reader's own zone and language: every <time datetime> is rewritten ("5 minutes
//   ago", "yesterday 14:05", a date when older) with the exact local time as its title;
// - live mail on signed-in pages: a short poll of GET /live with the page's ETag (so an
//   unchanged mailbox answers 304) updates the unread badge, the title and, on the newest page
//   of the inbox or sent, the rows. All text goes in through textContent, never as HTML.
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

  // Times. The server prints UTC; this shows the same instant in the browser's zone.
  var formats = null;

  function timeFormats() {
    if (!formats) {
      var clock = { hour: 'numeric', minute: '2-digit' };
      formats = {
        full: new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' }),
        clock: new Intl.DateTimeFormat(undefined, clock),
        date: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: clock.hour, minute: clock.minute }),
        dateYear: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' }),
        relative: window.Intl && Intl.RelativeTimeFormat
          ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null
      };
    }
    return formats;
  }

  // Calendar days from now's local day to date's local day (-1: yesterday).
  function dayOffset(date, now) {
    var a = new Date(date.getFullYear(), date.getMonth(), date.getDate());
    var b = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    return Math.round((a - b) / 86400000);
  }

  function describeTime(date, now) {
    var f = timeFormats();
    var seconds = Math.round((date - now) / 1000);
    var minutes = Math.round(seconds / 60);
    var days = dayOffset(date, now);
    if (f.relative && Math.abs(seconds) < 60) { return f.relative.format(0, 'second'); }
    if (f.relative && Math.abs(minutes) < 60) { return f.relative.format(minutes, 'minute'); }
    if (f.relative && Math.abs(days) <= 1) {
      return f.relative.format(days, 'day') + ' ' + f.clock.format(date);
    }
    if (date.getFullYear() === now.getFullYear()) { return f.date.format(date); }
    return f.dateYear.format(date);
  }

  function localiseTimes(root) {
    if (!window.Intl || !Intl.DateTimeFormat) { return; }
    var now = new Date();
    Array.prototype.forEach.call(root.querySelectorAll('time[datetime]'), function (element) {
      var date = new Date(element.getAttribute('datetime'));
      if (isNaN(date.getTime())) { return; }
      element.textContent = describeTime(date, now);
      element.title = timeFormats().full.format(date);
    });
  }

  // Live mail.
  var POLL_MS = 8000;
  var HIDDEN_POLL_MS = 60000;

  function countText(unread) {
    if (unread === 0) { return 'No unread messages'; }
    return unread === 1 ? '1 unread message' : unread + ' unread messages';
  }

  function showUnread(unread, baseTitle) {
    document.title = (unread > 0 ? '(' + unread + ') ' : '') + baseTitle;
    var link = document.querySelector('nav.mainnav a[href="/inbox"]');
    if (link) {
      var badge = link.querySelector('.badge');
      if (unread > 0 && !badge) {
        badge = document.createElement('span');
        badge.className = 'badge';
        link.appendChild(document.createTextNode(' '));
        link.appendChild(badge);
      }
      if (badge && unread > 0) {
        badge.textContent = String(unread);
        var hidden = document.createElement('span');
        hidden.className = 'visually-hidden';
        hidden.textContent = ' unread';
        badge.appendChild(hidden);
      } else if (badge) {
        // The space before the badge goes with it; the link's own text stays.
        var before = badge.previousSibling;
        if (before && before.nodeType === 3) { before.nodeValue = before.nodeValue.replace(/\s+$/, ''); }
        link.removeChild(badge);
      }
    }
    var count = document.getElementById('unread-count');
    if (count) { count.textContent = countText(unread); }
  }

  function setUnreadMark(item, unread) {
    item.className = unread ? 'unread' : '';
    var who = item.querySelector('.who');
    var mark = who && who.querySelector('.vh');
    if (unread && who && !mark) {
      mark = document.createElement('span');
      mark.className = 'vh';
      mark.textContent = 'Unread, ';
      who.insertBefore(mark, who.firstChild);
    } else if (!unread && mark) {
      who.removeChild(mark);
    }
  }

  function makeRow(message, box) {
    var item = document.createElement('li');
    var link = document.createElement('a');
    link.href = '/messages/' + encodeURIComponent(message.id);
    var who = document.createElement('span');
    who.className = 'who';
    if (box === 'sent') {
      var to = document.createElement('span');
      to.className = 'muted';
      to.textContent = 'To ';
      who.appendChild(to);
    }
    who.appendChild(document.createTextNode(message.correspondent));
    var subject = document.createElement('span');
    subject.className = 'subject';
    subject.textContent = message.title;
    var time = document.createElement('time');
    time.setAttribute('datetime', message.sent_at);
    time.textContent = message.sent_at;
    link.appendChild(who);
    link.appendChild(subject);
    link.appendChild(time);
    item.appendChild(link);
    setUnreadMark(item, message.unread);
    return item;
  }

  // The list becomes exactly the answer's rows, reusing the rows already shown (so focus and
  // scroll position stay where they were) and creating only the new ones.
  function showRows(data, box) {
    var main = document.getElementById('main');
    var list = main && main.querySelector('ul.mail-list');
    if (!main || (!list && data.messages.length === 0)) { return; }
    if (!list) {
      list = document.createElement('ul');
      list.className = 'mail-list';
      list.setAttribute('aria-label', (box === 'inbox' ? 'Received messages' : 'Sent messages') + ', newest first');
      var empty = main.querySelector('.card.empty');
      if (empty) { main.replaceChild(list, empty); } else { main.appendChild(list); }
    }
    var shown = {};
    Array.prototype.forEach.call(list.children, function (item) {
      var link = item.querySelector('a');
      if (link) { shown[link.getAttribute('href')] = item; }
    });
    var rows = data.messages.map(function (message) {
      var href = '/messages/' + encodeURIComponent(message.id);
      var item = shown[href];
      if (item) {
        delete shown[href];
        setUnreadMark(item, message.unread);
        return item;
      }
      item = makeRow(message, box);
      localiseTimes(item);
      return item;
    });
    Object.keys(shown).forEach(function (href) { list.removeChild(shown[href]); });
    rows.forEach(function (item, index) {
      if (list.children[index] !== item) { list.insertBefore(item, list.children[index] || null); }
    });
    if (data.older && !main.querySelector('.pager a[rel="next"]')) {
      var pager = main.querySelector('nav.pager');
      if (!pager) {
        pager = document.createElement('nav');
        pager.className = 'pager';
        pager.setAttribute('aria-label', 'More messages');
        main.appendChild(pager);
      }
      var older = document.createElement('a');
      older.className = 'button button-quiet';
      older.rel = 'next';
      older.href = data.older;
      older.textContent = 'Older messages';
      pager.appendChild(older);
    }
  }

  function setupLive() {
    var body = document.body;
    var main = document.getElementById('main');
    if (!body.hasAttribute('data-live-etag') || !window.fetch || !main) { return; }
    var box = body.getAttribute('data-live-box') || '';
    var etag = body.getAttribute('data-live-etag');
    // The server prefixes the title with the count only when there is a badge; a message
    // titled "(3) ..." must keep its own parentheses.
    var shownBadge = document.querySelector('nav.mainnav a[href="/inbox"] .badge');
    var baseTitle = shownBadge ? document.title.replace(/^\(\d+\) /, '') : document.title;
    var unread = shownBadge ? parseInt(shownBadge.textContent, 10) || 0 : 0;
    var failures = 0;
    var timer = null;
    var status = document.createElement('p');
    status.className = 'visually-hidden';
    status.id = 'live-status';
    status.setAttribute('aria-live', 'polite');
    main.appendChild(status);

    function schedule(ms) {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(poll, ms);
    }

    function nextDelay() {
      if (failures > 0) { return Math.min(HIDDEN_POLL_MS, POLL_MS * Math.pow(2, failures)); }
      return document.hidden ? HIDDEN_POLL_MS : POLL_MS;
    }

    function apply(data) {
      if (data.unread > unread) {
        var arrived = data.unread - unread;
        status.textContent = arrived === 1 ? '1 new message' : arrived + ' new messages';
      }
      unread = data.unread;
      showUnread(data.unread, baseTitle);
      if (box && data.box === box) { showRows(data, box); }
    }

    function poll() {
      timer = null;
      var url = '/live' + (box ? '?box=' + encodeURIComponent(box) : '');
      fetch(url, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'If-None-Match': etag, 'Accept': 'application/json' }
      }).then(function (response) {
        if (response.status === 304) { failures = 0; schedule(nextDelay()); return; }
        // Signed out (or the session ended elsewhere): stop; the next click shows the login.
        if (response.status === 401) { return; }
        if (response.status === 429) {
          var wait = parseInt(response.headers.get('Retry-After'), 10);
          schedule(Math.max(1, wait || 60) * 1000);
          return;
        }
        if (!response.ok) { failures += 1; schedule(nextDelay()); return; }
        var tag = response.headers.get('ETag');
        return response.json().then(function (data) {
          if (tag) { etag = tag; }
          failures = 0;
          apply(data);
          schedule(nextDelay());
        });
      }).catch(function () {
        failures += 1;
        schedule(nextDelay());
      });
    }

    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) { schedule(0); }
    });
    schedule(POLL_MS);
  }

  function start() {
    setupToggles();
    Array.prototype.forEach.call(document.querySelectorAll('[data-meter-for]'), setupMeter);
    localiseTimes(document);
    // Relative times ("5 minutes ago") go stale; refresh them now and then.
    setInterval(function () { localiseTimes(document); }, 30000);
    setupLive();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
