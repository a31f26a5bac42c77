// hookd console and consumer portal.
//
// One page for both audiences: the operator, signed in by a session cookie,
// and a consumer, whose application token arrives in the link's fragment.
// It only calls hookd's public API. Everything shown that a stranger wrote
// (payloads, response bodies, URLs, descriptions) goes in as text nodes:
// nothing here assigns markup from data.
'use strict';

(() => {
  const S = { token: null, csrf: null, app: null, readOnly: false, portal: false };
  const THEME_KEYS = ['primary', 'theme', 'hideNav'];
  const STATUS = { 0: ['Succeeded', 'ok'], 1: ['Pending', 'warn'], 2: ['Failed', 'bad'], 3: ['Retrying', 'warn'], 4: ['Canceled', ''] };

  // ---- DOM ---------------------------------------------------------------

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    add(el, kids);
    return el;
  }
  function add(el, kids) {
    for (const c of [kids].flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const c of kids.flat()) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  function replace(el, ...kids) { el.replaceChildren(); return add(el, kids); }
  function toast(text) {
    const t = h('div', { class: 'toast', role: 'status' }, text);
    document.body.append(t);
    setTimeout(() => t.remove(), 2400);
  }

  // ---- Formatting ----------------------------------------------------------

  function ago(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    const abs = Math.abs(s);
    const [n, unit] = abs < 60 ? [abs, 'second'] : abs < 3600 ? [Math.round(abs / 60), 'minute']
      : abs < 86400 ? [Math.round(abs / 3600), 'hour'] : [Math.round(abs / 86400), 'day'];
    const text = abs < 5 ? 'just now' : `${n} ${unit}${n === 1 ? '' : 's'} ${s >= 0 ? 'ago' : 'from now'}`;
    return h('time', { datetime: iso, title: d.toLocaleString() }, text);
  }
  function status(code) {
    const [text, kind] = STATUS[code] || ['Unknown', ''];
    return h('span', { class: `badge ${kind}` }, text);
  }
  function endpointState(ep) {
    if (ep.disabled) return h('span', { class: 'badge' }, 'Disabled');
    if (ep.failingSince) {
      return h('span', { class: 'badge bad', title: `Failing since ${new Date(ep.failingSince).toLocaleString()}` }, 'Failing');
    }
    return h('span', { class: 'badge ok' }, 'Enabled');
  }
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const ta = h('textarea', { 'aria-hidden': 'true' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
    return Promise.resolve();
  }
  function copyButton(text, label) {
    return h('button', {
      class: 'icon', type: 'button', title: `Copy ${label || text}`, 'aria-label': `Copy ${label || 'value'}`,
      onclick: (e) => { e.stopPropagation(); copyText(text).then(() => toast('Copied')); },
    }, 'Copy');
  }
  function id(text) { return h('span', { class: 'id' }, text, copyButton(text, 'id')); }
  function pretty(value) {
    if (typeof value === 'string') {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
    }
    return JSON.stringify(value, null, 2);
  }
  function rate(ok, bad) {
    const total = ok + bad;
    if (!total) return h('span', { class: 'muted' }, 'no attempts');
    const pct = Math.round((ok / total) * 1000) / 10;
    const meter = h('span', { class: 'meter', 'aria-hidden': 'true' }, h('i'));
    meter.firstChild.style.width = `${pct}%`;
    return h('span', { class: 'rate', title: `${ok} attempts succeeded, ${bad} failed in 24 hours` }, meter, `${pct}%`);
  }
  const sum = (xs) => (xs || []).reduce((a, b) => a + b, 0);

  // ---- API -----------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super(body && typeof body.detail === 'string' ? body.detail : `The server answered ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (S.token) headers.Authorization = `Bearer ${S.token}`;
    else if (S.csrf && method !== 'GET') headers['X-CSRF-Token'] = S.csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (r.status === 401 && !S.portal && path !== '/console/session') { signIn(); throw new ApiError(401, data); }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }
  const enc = encodeURIComponent;
  const appPath = (rest) => `/api/v1/app/${enc(route().app)}${rest || ''}`;
  function qs(params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== '') p.set(k, v);
    const s = p.toString();
    return s ? `?${s}` : '';
  }

  // ---- Routing ---------------------------------------------------------------

  function route() {
    const p = new URLSearchParams(location.search);
    return { app: S.app || p.get('app'), view: p.get('view') || 'overview', id: p.get('id'), p };
  }
  function href(params) {
    const cur = new URLSearchParams(location.search);
    const next = new URLSearchParams();
    for (const k of THEME_KEYS) if (cur.get(k)) next.set(k, cur.get(k));
    // Links stay in the current application unless they name another (or `app: null`).
    const app = S.app || (params.app === undefined ? cur.get('app') : params.app);
    if (app) next.set('app', app);
    params = { ...params, app: undefined };
    for (const [k, v] of Object.entries(params)) if (v != null && v !== '') next.set(k, v);
    return `${location.pathname}?${next.toString()}`;
  }
  function go(params, replaceState) {
    history[replaceState ? 'replaceState' : 'pushState'](null, '', href(params));
    render();
  }
  function link(params, ...kids) {
    return h('a', {
      href: href(params),
      onclick: (e) => {
        e.stopPropagation();
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button) return;
        e.preventDefault();
        go(params);
      },
    }, ...kids);
  }
  window.addEventListener('popstate', () => render());

  // ---- Frame ---------------------------------------------------------------

  const root = () => document.getElementById('root');
  const appName = {};

  function frame(r, body) {
    const hideNav = new URLSearchParams(location.search).get('hideNav') === '1';
    const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' });
    if (!S.portal) add(crumbs, link({ app: null }, 'Applications'));
    if (r.app) {
      if (!S.portal) add(crumbs, h('span', { class: 'sep' }, '/'));
      add(crumbs, link({ app: r.app }, appName[r.app] || r.app));
    }
    const top = h('header', { class: 'top' },
      h('a', { class: 'brand', href: href({ app: null }), onclick: (e) => { e.preventDefault(); go({ app: null }); } },
        h('img', { src: 'icon.svg', alt: '' }), 'hookd'),
      crumbs,
      S.readOnly ? h('span', { class: 'badge' }, 'Read-only') : null,
      S.portal ? null : h('button', { class: 'small', type: 'button', onclick: signOut }, 'Sign out'));
    const parts = [];
    if (!hideNav) parts.push(top);
    if (r.app && !hideNav) {
      const tab = (view, label, also) => h('a', {
        href: href({ app: r.app, view }),
        'aria-current': r.view === view || (also || []).includes(r.view) ? 'page' : null,
        onclick: (e) => { e.preventDefault(); go({ app: r.app, view }); },
      }, label);
      parts.push(h('nav', { class: 'tabs', 'aria-label': 'Sections' },
        tab('overview', 'Overview'), tab('endpoints', 'Endpoints', ['endpoint', 'new-endpoint', 'edit-endpoint']),
        tab('messages', 'Messages', ['message']), tab('catalog', 'Event types', ['event-type', 'new-event-type'])));
    }
    parts.push(h('main', { id: 'main' }, body));
    replace(root(), parts);
  }
  function loading() { return h('p', { class: 'loading', role: 'status' }, 'Loading…'); }
  function empty(title, text) { return h('div', { class: 'empty' }, h('strong', {}, title), text); }
  function failure(e) {
    return h('div', { class: 'card' }, h('p', { class: 'form-error', role: 'alert' },
      e instanceof ApiError ? (e.status === 404 ? 'Not found, or not yours to see.' : e.message) : `Something went wrong: ${e.message}`));
  }
  let shown = 0;
  let lastSearch = null;
  async function page(r, build) {
    // Only the newest navigation may fill the page, whichever answer comes last;
    // a refresh of the same page keeps the old content until the new is ready.
    const mine = ++shown;
    const same = lastSearch === location.search;
    lastSearch = location.search;
    const body = h('div', {}, loading());
    if (!same) frame(r, body);
    let content;
    try {
      content = await build();
    } catch (e) {
      content = failure(e);
    }
    if (mine !== shown) return;
    replace(body, content);
    if (same) frame(r, body);
  }

  // ---- Forms -----------------------------------------------------------------

  function field(name, label, input, hint) {
    input.id = input.id || `f-${name}`;
    input.name = name;
    // A message about the old value goes once the value changes.
    input.addEventListener('input', () => {
      input.classList.remove('invalid');
      const box = input.closest('.field');
      if (box) box.querySelector('.error').replaceChildren();
    });
    return h('div', { class: 'field', 'data-field': name },
      h('label', { for: input.id }, label), input, hint ? h('div', { class: 'hint' }, hint) : null,
      h('div', { class: 'error', 'aria-live': 'polite' }));
  }
  function showErrors(form, e) {
    form.querySelectorAll('.error').forEach((x) => x.replaceChildren());
    form.querySelectorAll('.invalid').forEach((x) => x.classList.remove('invalid'));
    const top = form.querySelector('.form-error');
    if (top) top.remove();
    const general = [];
    const details = e instanceof ApiError && e.body && Array.isArray(e.body.detail) ? e.body.detail : null;
    if (details) {
      for (const d of details) {
        const loc = (d.loc || []).filter((x) => x !== 'body');
        const key = loc[0];
        const box = key != null && form.querySelector(`[data-field="${CSS.escape(String(key))}"]`);
        if (box) {
          box.querySelector('.error').append(h('div', {}, d.msg));
          const input = box.querySelector('input,select,textarea');
          if (input) input.classList.add('invalid');
        } else {
          general.push(`${loc.join('.')}: ${d.msg}`);
        }
      }
    } else {
      general.push(e.message);
    }
    if (general.length) form.prepend(h('div', { class: 'form-error', role: 'alert' }, general.join('; ')));
    const first = form.querySelector('.invalid, .form-error');
    if (first && first.focus) first.focus();
  }
  function submitting(form, run) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const btn = form.querySelector('button[type=submit]');
      if (btn) btn.disabled = true;
      try {
        await run();
      } catch (err) {
        showErrors(form, err);
      } finally {
        if (btn) btn.disabled = false;
      }
    });
    return form;
  }
  function confirmDialog(title, text, action) {
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title), h('p', {}, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', onclick: async () => { dlg.close(); await action(); } }, title),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
  }
  const lines = (v) => v.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
  function jsonOrNull(text, name) {
    if (!text.trim()) return null;
    try { return JSON.parse(text); } catch (e) {
      throw new ApiError(422, { detail: [{ loc: ['body', name], msg: `not valid JSON: ${e.message}` }] });
    }
  }

  // ---- Sign-in ---------------------------------------------------------------

  function signIn() {
    const input = h('input', { type: 'password', autocomplete: 'current-password', required: true });
    const form = submitting(h('form', { class: 'card' },
      h('h1', {}, 'Sign in'),
      h('p', { class: 'muted' }, 'Use the operator token (HOOKD_ADMIN_TOKEN, or the one hookd printed when it first started).'),
      h('input', { type: 'text', autocomplete: 'username', value: 'operator', hidden: true, 'aria-hidden': 'true', tabindex: '-1' }),
      field('token', 'Operator token', input),
      h('button', { type: 'submit', class: 'primary' }, 'Sign in')), async () => {
      const out = await api('POST', '/console/session', { token: input.value });
      S.csrf = out.csrf;
      render();
    });
    replace(root(), h('div', { class: 'signin' }, h('div', { class: 'brand' }, h('img', { src: 'icon.svg', alt: '' }), 'hookd'), form));
    input.focus();
  }
  async function signOut() {
    try { await api('DELETE', '/console/session'); } catch { /* signed out either way */ }
    S.csrf = null;
    history.replaceState(null, '', location.pathname);
    signIn();
  }

  // ---- Applications ----------------------------------------------------------

  async function appsView(r) {
    const list = h('tbody');
    const search = h('input', { type: 'search', placeholder: 'Search by name, uid or id', 'aria-label': 'Search applications' });
    const more = h('button', { type: 'button', class: 'small' }, 'Load more');
    let apps = [];
    let iterator = null;
    let query = '';
    const draw = () => {
      replace(list, apps.length ? apps.map((a) => h('tr', { class: 'link', onclick: () => go({ app: a.id }) },
        h('td', {}, link({ app: a.id }, a.name), h('div', { class: 'sub' }, a.uid || '')),
        h('td', { class: 'hide-narrow' }, id(a.id)),
        h('td', {}, ago(a.createdAt)))) : h('tr', {}, h('td', { colspan: 3 },
        empty(query ? 'No application matches' : 'No applications yet', query ? 'Try part of its name, or its uid or id.' : 'Create the first one above.'))));
      more.hidden = !iterator;
    };
    // The server searches every application: names holding the text, uids and ids starting with it.
    const load = async (fresh) => {
      const asked = query;
      const out = await api('GET', `/api/v1/app${qs({ limit: 100, iterator: fresh ? null : iterator, search: asked })}`);
      if (asked !== query) return;
      apps = fresh ? out.data : apps.concat(out.data);
      iterator = out.done ? null : out.iterator;
      draw();
    };
    more.onclick = () => load(false);
    let timer = null;
    search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        query = search.value.trim();
        load(true).catch((e) => toast(e.message));
      }, 250);
    });
    await load(true);
    const name = h('input', { type: 'text', required: true, placeholder: 'Acme Inc.' });
    const uid = h('input', { type: 'text', placeholder: 'optional, e.g. your customer id' });
    const form = submitting(h('form', { class: 'card' }, h('h2', {}, 'New application'),
      h('div', { class: 'row' }, field('name', 'Name', name), field('uid', 'UID', uid)),
      h('button', { type: 'submit', class: 'primary' }, 'Create application')), async () => {
      const a = await api('POST', '/api/v1/app', { name: name.value, uid: uid.value.trim() || undefined });
      go({ app: a.id });
    });
    return [
      h('div', { class: 'head' }, h('div', {}, h('h1', {}, 'Applications'), h('div', { class: 'sub' }, 'Each application is one of your customers, with its own endpoints and messages.'))),
      form,
      h('div', { class: 'card flush' }, h('div', { class: 'filters' }, h('div', { class: 'field' }, search)),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', { class: 'hide-narrow' }, 'ID'), h('th', {}, 'Created'))), list),
        h('div', { class: 'pager' }, h('span', {}), more)),
    ];
  }

  // ---- Overview --------------------------------------------------------------

  async function dayStats() {
    return api('GET', appPath(`/stats/attempts/hourly${qs({ hours: 24 })}`));
  }
  function chart(start, data, label) {
    const ok = data.successCount;
    const bad = data.failureCount;
    const n = ok.length;
    const W = 720, H = 180, L = 34, B = 22, T = 8;
    const max = Math.max(1, ...ok.map((v, i) => v + bad[i]));
    const step = (W - L) / n;
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
    for (const f of [0, 0.5, 1]) {
      const v = Math.round(max * f);
      g.append(svg('line', { class: 'gridline', x1: L, x2: W, y1: y(v), y2: y(v) }));
      g.append(svg('text', { class: 'axis', x: L - 6, y: y(v) + 3, 'text-anchor': 'end' }, v));
    }
    const t0 = new Date(start).getTime();
    for (let i = 0; i < n; i++) {
      const x = L + i * step + step * 0.15;
      const w = step * 0.7;
      const hour = new Date(t0 + i * 3600e3);
      const title = `${hour.toLocaleString([], { hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short' })}: ${ok[i]} succeeded, ${bad[i]} failed`;
      const col = svg('g', {}, svg('title', {}, title));
      if (ok[i]) col.append(svg('rect', { class: 'bar-ok', x, width: w, y: y(ok[i]), height: y(0) - y(ok[i]), rx: 1.5 }));
      if (bad[i]) col.append(svg('rect', { class: 'bar-bad', x, width: w, y: y(ok[i] + bad[i]), height: y(ok[i]) - y(ok[i] + bad[i]), rx: 1.5 }));
      g.append(col);
      if (i % 6 === 0 && i < n - 3) g.append(svg('text', { class: 'axis', x: x + w / 2, y: H - 6, 'text-anchor': 'middle' }, hour.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })));
    }
    return h('div', { class: 'chart' }, g, h('div', { class: 'legend' },
      h('span', {}, h('i', { class: 'lg-ok' }), 'Succeeded'), h('span', {}, h('i', { class: 'lg-bad' }), 'Failed')));
  }
  function legendColours(el) {
    el.querySelectorAll('.lg-ok').forEach((i) => { i.style.background = 'var(--ok)'; });
    el.querySelectorAll('.lg-bad').forEach((i) => { i.style.background = 'var(--bad)'; });
    return el;
  }
  const noData = { successCount: [], failureCount: [] };
  async function overviewView(r) {
    const [app, stats, eps] = await Promise.all([api('GET', appPath()), dayStats(), api('GET', appPath(`/endpoint${qs({ limit: 250 })}`))]);
    appName[app.id] = app.name;
    const ok = sum(stats.data.successCount);
    const bad = sum(stats.data.failureCount);
    const of = (ep) => stats.byEndpoint[ep.id] || noData;
    const failing = (ep) => (ep.failingSince ? 2 : 0) + (sum(of(ep).failureCount) ? 1 : 0);
    const sorted = eps.data.slice().sort((a, b) => failing(b) - failing(a));
    return [
      h('div', { class: 'head' }, h('div', {}, h('h1', {}, app.name), id(app.id))),
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('div', { class: 'l' }, 'Attempts succeeded, 24 h'), h('div', { class: 'n' }, ok)),
        h('div', { class: 'stat' }, h('div', { class: 'l' }, 'Attempts failed, 24 h'), h('div', { class: 'n' }, bad)),
        h('div', { class: 'stat' }, h('div', { class: 'l' }, 'Success rate'), h('div', { class: 'n' }, ok + bad ? `${Math.round((ok / (ok + bad)) * 1000) / 10}%` : '—')),
        h('div', { class: 'stat' }, h('div', { class: 'l' }, 'Endpoints'), h('div', { class: 'n' }, eps.data.length + (eps.done ? '' : '+')))),
      h('div', { class: 'card' }, h('h2', {}, 'Attempts per hour, last 24 hours'), legendColours(chart(stats.startDate, stats.data, 'Attempts per hour'))),
      h('div', { class: 'card flush' }, h('h2', {}, 'Endpoints, failing first'),
        sorted.length ? endpointTable(sorted, stats) : empty('No endpoints yet', 'Add one under Endpoints.')),
    ];
  }

  // ---- Endpoints -------------------------------------------------------------

  function endpointTable(eps, stats) {
    return h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Endpoint'), h('th', {}, 'State'),
      h('th', { class: 'hide-narrow' }, 'Event types'), h('th', {}, 'Attempts, 24 h'))),
    h('tbody', {}, eps.map((ep) => {
      const s = stats.byEndpoint[ep.id] || noData;
      return h('tr', { class: 'link', onclick: () => go({ view: 'endpoint', id: ep.id }) },
        h('td', { class: 'wrap' }, link({ view: 'endpoint', id: ep.id }, ep.url), h('div', { class: 'sub' }, ep.description || '')),
        h('td', {}, endpointState(ep)),
        h('td', { class: 'hide-narrow' }, ep.eventTypes ? ep.eventTypes.map((t) => h('span', { class: 'chip' }, t)) : h('span', { class: 'muted' }, 'all')),
        h('td', {}, rate(sum(s.successCount), sum(s.failureCount))));
    })));
  }
  async function endpointsView(r) {
    const [eps, stats] = await Promise.all([api('GET', appPath(`/endpoint${qs({ limit: 100 })}`)), dayStats()]);
    if (!eps.data.length) {
      return [endpointsHead(), h('div', { class: 'card flush' },
        empty('No endpoints yet', S.readOnly ? 'None has been added.' : 'Add the URL that should receive this application\u2019s messages.'))];
    }
    const table = endpointTable(eps.data, stats);
    const body = table.querySelector('tbody');
    let iterator = eps.done ? null : eps.iterator;
    const more = h('button', { type: 'button', class: 'small', hidden: !iterator, onclick: async () => {
      const next = await api('GET', appPath(`/endpoint${qs({ limit: 100, iterator })}`));
      add(body, [...endpointTable(next.data, stats).querySelector('tbody').children]);
      iterator = next.done ? null : next.iterator;
      more.hidden = !iterator;
    } }, 'Load more');
    return [endpointsHead(), h('div', { class: 'card flush' }, table, h('div', { class: 'pager' }, h('span', {}), more))];
  }
  function endpointsHead() {
    return h('div', { class: 'head' }, h('div', {}, h('h1', {}, 'Endpoints'), h('div', { class: 'sub' }, 'Where this application\u2019s messages are delivered.')),
      S.readOnly ? null : h('button', { class: 'primary', type: 'button', onclick: () => go({ view: 'new-endpoint' }) }, 'New endpoint'));
  }
  async function catalogue() {
    try { return (await api('GET', `/api/v1/event-type${qs({ limit: 250 })}`)).data; } catch { return []; }
  }

  async function endpointForm(r) {
    const editing = r.view === 'edit-endpoint';
    const [ep, types, headers] = await Promise.all([
      editing ? api('GET', appPath(`/endpoint/${enc(r.id)}`)) : {},
      catalogue(),
      editing ? api('GET', appPath(`/endpoint/${enc(r.id)}/headers`)).catch(() => ({ headers: {} })) : { headers: {} },
    ]);
    const el = {
      url: h('input', { type: 'text', required: true, value: ep.url || '', placeholder: 'https://example.com/webhooks/{{tenant}}', inputmode: 'url' }),
      description: h('input', { type: 'text', value: ep.description || '' }),
      channels: h('input', { type: 'text', value: (ep.channels || []).join(', '), placeholder: 'project-1, project-2' }),
      extraTypes: h('input', { type: 'text', value: (ep.eventTypes || []).filter((t) => !types.some((x) => x.name === t)).join(', '), placeholder: 'invoice.*' }),
      filter: h('textarea', { placeholder: '{"path": "amount", "op": "gt", "value": 100}' }, ep.filter ? pretty(ep.filter) : ''),
      headers: h('textarea', { placeholder: 'X-Tenant: acme' }, Object.entries(headers.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n')),
      scheme: h('select', {}, [['standard-webhooks', 'Standard Webhooks (webhook-signature)'], ['hmac-sha256', 'HMAC-SHA256 of the body (GitHub style)'], ['bearer', 'Authorization: Bearer <secret>'], ['none', 'None']]
        .map(([v, t]) => h('option', { value: v, selected: ((ep.signature || {}).scheme || 'standard-webhooks') === v }, t))),
      sigHeader: h('input', { type: 'text', value: (ep.signature || {}).header || '', placeholder: 'X-Hub-Signature-256' }),
      sigEncoding: h('select', {}, ['hex', 'base64'].map((v) => h('option', { value: v, selected: ((ep.signature || {}).encoding || 'hex') === v }, v))),
      sigPrefix: h('input', { type: 'text', value: (ep.signature || {}).prefix ?? 'sha256=' }),
      envelope: h('input', { type: 'checkbox', checked: !!ep.envelope }),
      throttleRate: h('input', { type: 'number', min: 1, value: ep.throttleRate ?? '' }),
      retrySchedule: h('input', { type: 'text', value: (ep.retrySchedule || []).join(', '), placeholder: 'server default' }),
      attemptTimeout: h('input', { type: 'number', min: 1, step: 'any', value: ep.attemptTimeout ?? '', placeholder: 'server default' }),
      sslVerification: h('input', { type: 'checkbox', checked: ep.sslVerification !== false }),
      disabled: h('input', { type: 'checkbox', checked: !!ep.disabled }),
    };
    const chosen = new Set(ep.eventTypes || []);
    const boxes = types.filter((t) => !t.archived).map((t) => h('label', { class: 'check', title: t.description || '' },
      h('input', { type: 'checkbox', value: t.name, checked: chosen.has(t.name) }), t.name));
    const preview = h('div', { class: 'hint', 'aria-live': 'polite' });
    const eventTypes = () => [...boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => c.value), ...lines(el.extraTypes.value)];
    let timer = null;
    const runPreview = () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        let filter;
        try { filter = jsonOrNull(el.filter.value, 'filter'); } catch (e) { replace(preview, e.body.detail[0].msg); return; }
        try {
          const types = eventTypes();
          const out = await api('POST', appPath('/match-preview'), { eventTypes: types.length ? types : undefined, filter: filter || undefined, limit: 1000, sampleSize: 3 });
          if (!out.scanned) { replace(preview, 'No messages yet to try it on.'); return; }
          replace(preview, `Would have matched ${out.matched} of the ${out.scanned} newest messages.`,
            out.sample.length ? [' For example: ', out.sample.map((m, i) => [i ? ', ' : '', m.eventType])] : '');
        } catch (e) {
          replace(preview, e instanceof ApiError && e.body && Array.isArray(e.body.detail) ? e.body.detail.map((d) => d.msg).join('; ') : e.message);
        }
      }, 350);
    };
    el.filter.addEventListener('input', runPreview);
    el.extraTypes.addEventListener('input', runPreview);
    boxes.forEach((b) => b.addEventListener('change', runPreview));
    // The header, encoding and prefix only mean something for the HMAC-of-the-body scheme.
    const hmacOptions = h('div', { class: 'row' },
      field('sigHeader', 'Signature header', el.sigHeader),
      field('sigEncoding', 'Digest encoding', el.sigEncoding),
      field('sigPrefix', 'Text before the digest', el.sigPrefix, 'Empty for none.'));
    const showHmac = () => { hmacOptions.hidden = el.scheme.value !== 'hmac-sha256'; };
    el.scheme.addEventListener('change', showHmac);
    showHmac();
    const check = (name, label, input) => h('div', { class: 'field', 'data-field': name }, h('label', { class: 'check' }, input, label), h('div', { class: 'error' }));
    const form = submitting(h('form', { class: 'card', novalidate: true },
      field('url', 'URL', el.url, 'Route placeholders like {{tenant}} are filled from the message\u2019s payload.'),
      field('description', 'Description', el.description),
      h('div', { class: 'field', 'data-field': 'eventTypes' }, h('label', {}, 'Event types'),
        boxes.length ? h('div', { class: 'types' }, boxes) : h('div', { class: 'hint' }, 'The catalogue is empty.'),
        h('div', { class: 'hint' }, 'None chosen: every event type.'), h('div', { class: 'error' })),
      field('extraTypes', 'More event types or wildcards', el.extraTypes, 'Comma-separated, e.g. invoice.*'),
      field('channels', 'Channels', el.channels, 'Comma-separated; only messages on one of them are delivered.'),
      field('filter', 'Payload filter (JSON)', el.filter), preview,
      field('headers', 'Custom headers', el.headers, 'One "Name: value" per line, sent with every delivery.'),
      h('div', { class: 'row' },
        field('signature', 'Signature', el.scheme),
        field('throttleRate', 'Throttle (deliveries per second)', el.throttleRate)),
      hmacOptions,
      h('div', { class: 'row' },
        field('retrySchedule', 'Retry schedule (seconds)', el.retrySchedule, 'Comma-separated delays.'),
        field('attemptTimeout', 'Attempt timeout (seconds)', el.attemptTimeout)),
      check('envelope', 'Wrap the payload in an envelope ({type, data, meta})', el.envelope),
      check('sslVerification', 'Verify the receiver\u2019s TLS certificate', el.sslVerification),
      check('disabled', 'Disabled', el.disabled),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, editing ? 'Save' : 'Create endpoint'),
        h('button', { type: 'button', onclick: () => history.back() }, 'Cancel'))), async () => {
      const types = eventTypes();
      const num = (x) => (x.value.trim() === '' ? null : Number(x.value));
      const hdrs = {};
      for (const line of el.headers.value.split('\n').map((x) => x.trim()).filter(Boolean)) {
        const at = line.indexOf(':');
        if (at < 1) throw new ApiError(422, { detail: [{ loc: ['body', 'headers'], msg: `"${line}" is not "Name: value"` }] });
        hdrs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      const retry = lines(el.retrySchedule.value).map(Number);
      const body = {
        url: el.url.value.trim(),
        description: el.description.value,
        eventTypes: types.length ? types : null,
        channels: lines(el.channels.value).length ? lines(el.channels.value) : null,
        filter: jsonOrNull(el.filter.value, 'filter'),
        signature: el.scheme.value === 'hmac-sha256'
          ? { scheme: 'hmac-sha256', header: el.sigHeader.value.trim() || undefined, encoding: el.sigEncoding.value, prefix: el.sigPrefix.value }
          : { scheme: el.scheme.value },
        envelope: el.envelope.checked ? (ep.envelope || {}) : null,
        throttleRate: num(el.throttleRate),
        retrySchedule: retry.length ? retry : null,
        attemptTimeout: num(el.attemptTimeout),
        sslVerification: el.sslVerification.checked,
        disabled: el.disabled.checked,
      };
      let saved;
      if (editing) {
        saved = await api('PATCH', appPath(`/endpoint/${enc(r.id)}`), body);
        await api('PUT', appPath(`/endpoint/${enc(r.id)}/headers`), { headers: hdrs });
      } else {
        for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
        saved = await api('POST', appPath('/endpoint'), Object.keys(hdrs).length ? { ...body, headers: hdrs } : body);
      }
      toast(editing ? 'Saved' : 'Endpoint created');
      go({ view: 'endpoint', id: saved.id }, true);
    });
    runPreview();
    return [h('div', { class: 'head' }, h('h1', {}, editing ? 'Edit endpoint' : 'New endpoint')), form];
  }

  async function endpointView(r) {
    const base = `/endpoint/${enc(r.id)}`;
    const [ep, stats, attempts, types] = await Promise.all([
      api('GET', appPath(base)), dayStats(),
      api('GET', appPath(`/attempt/endpoint/${enc(r.id)}${qs({ limit: 20 })}`)), catalogue()]);
    const zeros = stats.data.successCount.map(() => 0);
    const s = stats.byEndpoint[ep.id] || { successCount: zeros, failureCount: zeros };
    const secretBox = h('div', { class: 'secret' }, h('code', {}, '••••••••••••••••••••••••'));
    const reveal = async () => {
      const out = await api('GET', appPath(`${base}/secret`));
      replace(secretBox, h('code', { id: 'secret' }, out.key), copyButton(out.key, 'secret'));
      if (out.hashedKey) add(secretBox, h('div', { class: 'hint' }, 'Hashed for receivers that keep only a hash: ', h('code', {}, out.hashedKey), copyButton(out.hashedKey, 'hashed secret')));
    };
    const act = (label, run, cls) => h('button', { type: 'button', class: cls || '', onclick: async (e) => {
      e.target.disabled = true;
      try { await run(); } catch (err) { toast(err.message); } finally { e.target.disabled = false; }
    } }, label);
    const testType = h('select', { 'aria-label': 'Event type to send' },
      (ep.eventTypes && ep.eventTypes.length ? ep.eventTypes : types.map((t) => t.name)).filter((t) => !t.includes('*')).map((t) => h('option', { value: t }, t)));
    const testResult = h('div', { class: 'result', 'aria-live': 'polite' });
    const sendTest = async () => {
      replace(testResult, loading());
      const out = await api('POST', appPath(`${base}/test`), testType.value ? { eventType: testType.value } : {});
      replace(testResult, out.data.map((d) => h('div', {},
        h('p', {}, d.statusCode ? h('span', { class: `badge ${d.statusCode < 300 ? 'ok' : 'bad'}` }, `HTTP ${d.statusCode}`) : h('span', { class: 'badge bad' }, 'No answer'),
          ' ', d.eventType, d.durationMs != null ? ` in ${d.durationMs} ms` : '', d.error ? ` — ${d.error}` : ''),
        d.response ? h('pre', {}, pretty(d.response)) : null)));
    };
    const since = h('input', { type: 'datetime-local', 'aria-label': 'Recover failed messages since' });
    since.value = new Date(Date.now() - 86400e3 - new Date().getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
    const manage = S.readOnly ? [] : [
      act('Edit', () => go({ view: 'edit-endpoint', id: ep.id })),
      act(ep.disabled ? 'Enable' : 'Disable', async () => {
        await api('PATCH', appPath(base), { disabled: !ep.disabled });
        toast(ep.disabled ? 'Enabled' : 'Disabled');
        render();
      }),
      act('Delete', () => confirmDialog('Delete endpoint', `Delete ${ep.url}? Its pending deliveries stop and this cannot be undone.`, async () => {
        await api('DELETE', appPath(base));
        toast('Endpoint deleted');
        go({ view: 'endpoints' }, true);
      }), 'danger'),
    ];
    return [
      h('div', { class: 'head' }, h('div', { class: 'grow' }, h('h1', { class: 'wrap' }, ep.url), h('div', {}, endpointState(ep), ' ', id(ep.id)),
        ep.description ? h('div', { class: 'sub' }, ep.description) : null), h('div', { class: 'actions' }, manage)),
      h('div', { class: 'card' }, h('h2', {}, 'Attempts per hour, last 24 hours'), legendColours(chart(stats.startDate, s, 'Attempts per hour at this endpoint')),
        h('p', {}, rate(sum(s.successCount), sum(s.failureCount)))),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, h('h2', {}, 'Signing secret'), secretBox,
          h('div', { class: 'actions', style: null }, act('Reveal', reveal),
            S.readOnly ? null : act('Rotate', () => confirmDialog('Rotate secret', 'A new secret signs from now on; the old one also signs for the next 24 hours.', async () => {
              await api('POST', appPath(`${base}/secret/rotate`), {});
              await reveal();
              toast('Secret rotated');
            })))),
        S.readOnly ? null : h('div', { class: 'card' }, h('h2', {}, 'Send a test'),
          h('div', { class: 'actions' }, testType, act('Send test', sendTest, 'primary')), testResult),
        S.readOnly ? null : h('div', { class: 'card' }, h('h2', {}, 'Recover failed messages'),
          h('p', { class: 'muted' }, 'Send again every message that failed to reach this endpoint since:'),
          h('div', { class: 'actions' }, since, act('Recover', async () => {
            await api('POST', appPath(`${base}/recover`), { since: new Date(since.value).toISOString() });
            toast('Recovery started');
          })))),
      h('div', { class: 'card' }, h('h2', {}, 'Settings'), h('dl', { class: 'props' },
        h('dt', {}, 'Event types'), h('dd', {}, ep.eventTypes ? ep.eventTypes.map((t) => h('span', { class: 'chip' }, t)) : 'all'),
        h('dt', {}, 'Channels'), h('dd', {}, ep.channels ? ep.channels.map((t) => h('span', { class: 'chip' }, t)) : 'any'),
        h('dt', {}, 'Signature'), h('dd', {}, (ep.signature || {}).scheme || 'standard-webhooks'),
        h('dt', {}, 'Filter'), h('dd', {}, ep.filter ? h('code', {}, JSON.stringify(ep.filter)) : 'none'),
        h('dt', {}, 'Throttle'), h('dd', {}, ep.throttleRate ? `${ep.throttleRate} per second` : 'none'),
        h('dt', {}, 'Retry schedule'), h('dd', {}, ep.retrySchedule ? `${ep.retrySchedule.join(', ')} s` : 'server default'),
        h('dt', {}, 'Attempt timeout'), h('dd', {}, ep.attemptTimeout ? `${ep.attemptTimeout} s` : 'server default'),
        h('dt', {}, 'TLS verification'), h('dd', {}, ep.sslVerification === false ? 'off' : 'on'),
        h('dt', {}, 'Created'), h('dd', {}, ago(ep.createdAt)))),
      h('div', { class: 'card flush' }, h('h2', {}, 'Recent attempts'),
        attempts.data.length ? attemptsTable(attempts.data) : empty('No attempts yet', 'Deliveries to this endpoint show up here.')),
    ];
  }
  function attemptsTable(rows) {
    return h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Status'), h('th', {}, 'Message'), h('th', { class: 'hide-narrow' }, 'Code'), h('th', {}, 'When'))),
      h('tbody', {}, rows.map((a) => h('tr', { class: 'link', onclick: () => go({ view: 'message', id: a.msgId }) },
        h('td', {}, status(a.status)),
        h('td', { class: 'wrap' }, link({ view: 'message', id: a.msgId }, a.msgId), a.error ? h('div', { class: 'sub' }, a.error) : null),
        h('td', { class: 'hide-narrow' }, a.responseStatusCode || '—'),
        h('td', {}, ago(a.timestamp))))));
  }

  // ---- Messages ----------------------------------------------------------------

  async function messagesView(r) {
    const p = r.p;
    const [types, eps] = await Promise.all([catalogue(), api('GET', appPath(`/endpoint${qs({ limit: 250 })}`))]);
    const f = {
      eventType: h('select', {}, h('option', { value: '' }, 'Any'), types.map((t) => h('option', { value: t.name, selected: p.get('eventType') === t.name }, t.name))),
      endpoint: h('select', {}, h('option', { value: '' }, 'Any'), eps.data.map((e) => h('option', { value: e.id, selected: p.get('endpoint') === e.id }, e.url))),
      status: h('select', {}, h('option', { value: '' }, 'Any'), Object.entries(STATUS).map(([k, [t]]) => h('option', { value: k, selected: p.get('status') === k }, t))),
      after: h('input', { type: 'datetime-local', value: p.get('after') || '' }),
      before: h('input', { type: 'datetime-local', value: p.get('before') || '' }),
      eventId: h('input', { type: 'text', value: p.get('eventId') || '', placeholder: 'your idempotency id' }),
    };
    const syncStatus = () => {
      f.status.disabled = !f.endpoint.value;
      f.status.title = f.endpoint.value ? '' : 'A status is per endpoint: choose an endpoint first.';
    };
    f.endpoint.addEventListener('change', syncStatus);
    syncStatus();
    const apply = (e) => {
      e.preventDefault();
      go({ view: 'messages', eventType: f.eventType.value, endpoint: f.endpoint.value, status: f.endpoint.value ? f.status.value : '',
        after: f.after.value, before: f.before.value, eventId: f.eventId.value.trim() });
    };
    const iso = (v) => (v ? new Date(v).toISOString() : null);
    let rows = [];
    let next = null;
    if (p.get('eventId')) {
      try { rows = [await api('GET', appPath(`/msg/${enc(p.get('eventId'))}`))]; } catch (e) { if (e.status !== 404) throw e; }
    } else {
      const query = { limit: 50, iterator: p.get('iterator'), event_types: p.get('eventType'), after: iso(p.get('after')), before: iso(p.get('before')), with_content: 'false' };
      const out = p.get('endpoint')
        ? await api('GET', appPath(`/endpoint/${enc(p.get('endpoint'))}/msg${qs({ ...query, status: p.get('status') })}`))
        : await api('GET', appPath(`/msg${qs(query)}`));
      rows = out.data;
      next = out.done ? null : out.iterator;
    }
    const cur = Object.fromEntries([...p.entries()].filter(([k]) => !['app', ...THEME_KEYS].includes(k)));
    const lbl = (name, text, input) => { input.id = `m-${name}`; return h('div', { class: 'field' }, h('label', { for: input.id }, text), input); };
    return [
      h('div', { class: 'head' }, h('div', {}, h('h1', {}, 'Messages'), h('div', { class: 'sub' }, 'Newest first.'))),
      h('div', { class: 'card flush' },
        h('form', { class: 'filters', onsubmit: apply },
          lbl('eventType', 'Event type', f.eventType), lbl('endpoint', 'Endpoint', f.endpoint),
          lbl('status', 'Status at endpoint', f.status),
          lbl('after', 'After', f.after), lbl('before', 'Before', f.before), lbl('eventId', 'Event id', f.eventId),
          h('button', { type: 'submit', class: 'primary' }, 'Filter')),
        rows.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Event type'), h('th', { class: 'hide-narrow' }, 'Message'), p.get('endpoint') ? h('th', {}, 'Status') : null, h('th', {}, 'Created'))),
          h('tbody', {}, rows.map((m) => h('tr', { class: 'link', onclick: () => go({ view: 'message', id: m.id }) },
            h('td', { class: 'wrap' }, link({ view: 'message', id: m.id }, m.eventType), m.eventId ? h('div', { class: 'sub' }, m.eventId) : null),
            h('td', { class: 'hide-narrow' }, id(m.id)),
            p.get('endpoint') ? h('td', {}, status(m.status)) : null,
            h('td', {}, ago(m.timestamp))))))
          : empty('No messages', 'Messages published to this application show up here.'),
        h('div', { class: 'pager' },
          p.get('iterator') ? link({ ...cur, iterator: null }, '\u2190 Newest') : h('span', {}),
          next ? link({ ...cur, iterator: next }, 'Older \u2192') : h('span', {}))),
    ];
  }

  async function messageView(r) {
    const [m, dests, attempts] = await Promise.all([
      api('GET', appPath(`/msg/${enc(r.id)}`)),
      api('GET', appPath(`/msg/${enc(r.id)}/endpoint${qs({ limit: 250 })}`)),
      api('GET', appPath(`/attempt/msg/${enc(r.id)}${qs({ limit: 250 })}`)),
    ]);
    // While a first attempt is on its way, look again shortly, unless the reader is busy with the page.
    const waiting = dests.data.some((d) => (d.status === 1 || d.status === 3) && !attempts.data.some((a) => a.endpointId === d.id));
    if (waiting) {
      const here = location.search;
      setTimeout(() => {
        if (location.search === here && !document.querySelector('details[open], dialog[open]')) render();
      }, 1500);
    }
    const resend = (epId) => h('button', { type: 'button', class: 'small', onclick: async (e) => {
      e.target.disabled = true;
      try {
        await api('POST', appPath(`/msg/${enc(m.id)}/endpoint/${enc(epId)}/resend`));
        toast('Resent');
        setTimeout(render, 800);
      } catch (err) { toast(err.message); e.target.disabled = false; }
    } }, 'Resend');
    return [
      h('div', { class: 'head' }, h('div', { class: 'grow' }, h('h1', {}, m.eventType), id(m.id))),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, h('h2', {}, 'Message'), h('dl', { class: 'props' },
          h('dt', {}, 'Event id'), h('dd', {}, m.eventId || '—'),
          h('dt', {}, 'Channels'), h('dd', {}, m.channels ? m.channels.map((c) => h('span', { class: 'chip' }, c)) : '—'),
          h('dt', {}, 'Tags'), h('dd', {}, m.tags ? m.tags.map((c) => h('span', { class: 'chip' }, c)) : '—'),
          h('dt', {}, 'Created'), h('dd', {}, ago(m.timestamp)))),
        h('div', { class: 'card' }, h('h2', {}, 'Payload'), h('pre', { id: 'payload' }, pretty(m.payload)))),
      h('div', { class: 'card flush' }, h('h2', {}, 'Endpoints'),
        dests.data.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Endpoint'), h('th', {}, 'Status'), h('th', { class: 'hide-narrow' }, 'Next attempt'), S.readOnly ? null : h('th', {}, ''))),
          h('tbody', {}, dests.data.map((d) => h('tr', {},
            h('td', { class: 'wrap' }, link({ view: 'endpoint', id: d.id }, d.url || d.id)),
            h('td', {}, status(d.status)),
            h('td', { class: 'hide-narrow' }, d.nextAttempt ? ago(d.nextAttempt) : '—'),
            S.readOnly ? null : h('td', {}, resend(d.id))))))
          : empty('Not sent anywhere', 'No endpoint of this application matched this message.')),
      h('div', { class: 'card flush' }, h('h2', {}, 'Attempts'),
        attempts.data.length ? attempts.data.map(attemptDetails) : empty('No attempts yet', 'The first attempt is on its way.')),
    ];
  }
  function attemptDetails(a) {
    const headers = Object.entries(a.responseHeaders || {});
    return h('details', { class: 'attempt' },
      h('summary', {}, status(a.status),
        h('span', { class: 'mono' }, a.responseStatusCode ? `HTTP ${a.responseStatusCode}` : 'no answer'),
        h('span', { class: 'grow' }, a.url),
        h('span', { class: 'muted' }, `${a.responseDurationMs} ms`), ago(a.timestamp)),
      h('div', { class: 'body' },
        h('dl', { class: 'props' },
          h('dt', {}, 'Attempt'), h('dd', {}, id(a.id)),
          h('dt', {}, 'URL'), h('dd', {}, a.url),
          h('dt', {}, 'Trigger'), h('dd', {}, a.triggerType === 1 ? 'manual' : 'scheduled'),
          a.error ? [h('dt', {}, 'Error'), h('dd', {}, a.error)] : null),
        headers.length ? [h('h3', {}, 'Response headers'), h('pre', {}, headers.map(([k, v]) => `${k}: ${v}`).join('\n'))] : null,
        h('h3', {}, 'Response body'), a.response ? h('pre', { class: 'response' }, pretty(a.response)) : h('p', { class: 'muted' }, 'empty')));
  }

  // ---- Event types -----------------------------------------------------------

  async function catalogView(r) {
    const out = await api('GET', `/api/v1/event-type${qs({ limit: 250, with_content: 'true', include_archived: S.portal ? null : 'true' })}`);
    const example = (t) => {
      const versions = Object.keys(t.schemas || {}).sort((a, b) => Number(b) - Number(a));
      const s = versions.length ? t.schemas[versions[0]] : null;
      return s && Array.isArray(s.examples) && s.examples.length ? s.examples[0] : null;
    };
    return [
      h('div', { class: 'head' }, h('div', {}, h('h1', {}, 'Event types'), h('div', { class: 'sub' }, 'What this application can be sent.')),
        S.portal ? null : h('button', { class: 'primary', type: 'button', onclick: () => go({ view: 'new-event-type' }) }, 'New event type')),
      out.data.length ? out.data.map((t) => h('div', { class: 'card' },
        h('div', { class: 'head' }, h('div', {}, h('h2', { class: 'mono' }, t.name), h('div', { class: 'sub' }, t.description || 'No description')),
          h('div', { class: 'actions' }, t.archived ? h('span', { class: 'badge' }, 'Archived') : null, t.deprecated ? h('span', { class: 'badge warn' }, 'Deprecated') : null,
            S.portal ? null : h('button', { type: 'button', class: 'small', onclick: () => go({ view: 'event-type', id: t.name }) }, 'Edit'))),
        t.schemas && Object.keys(t.schemas).length ? h('details', {}, h('summary', {}, `Schema (versions ${Object.keys(t.schemas).join(', ')})`),
          h('pre', {}, pretty(t.schemas))) : null,
        example(t) ? [h('h3', {}, 'Example'), h('pre', {}, pretty(example(t)))] : null))
        : h('div', { class: 'card' }, empty('No event types yet', S.portal ? 'None has been published.' : 'Create one to describe what you send.')),
    ];
  }
  async function eventTypeForm(r) {
    const editing = r.view === 'event-type';
    const t = editing ? await api('GET', `/api/v1/event-type/${enc(r.id)}`) : {};
    const el = {
      name: h('input', { type: 'text', required: true, value: t.name || '', readonly: editing, placeholder: 'invoice.paid' }),
      description: h('input', { type: 'text', value: t.description || '' }),
      groupName: h('input', { type: 'text', value: t.groupName || '' }),
      schemas: h('textarea', { rows: 10, placeholder: '{"1": {"type": "object", "examples": [{"id": "inv_1"}]}}' }, t.schemas ? pretty(t.schemas) : ''),
      deprecated: h('input', { type: 'checkbox', checked: !!t.deprecated }),
      archived: h('input', { type: 'checkbox', checked: !!t.archived }),
    };
    const form = submitting(h('form', { class: 'card', novalidate: true },
      field('name', 'Name', el.name), field('description', 'Description', el.description), field('groupName', 'Group', el.groupName),
      field('schemas', 'JSON Schemas by version', el.schemas, 'An object from version number to JSON Schema; put an example in "examples".'),
      h('label', { class: 'check' }, el.deprecated, 'Deprecated'), editing ? h('label', { class: 'check' }, el.archived, 'Archived') : null,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, editing ? 'Save' : 'Create event type'),
        h('button', { type: 'button', onclick: () => history.back() }, 'Cancel'))), async () => {
      const body = { description: el.description.value, groupName: el.groupName.value.trim() || null,
        schemas: jsonOrNull(el.schemas.value, 'schemas'), deprecated: el.deprecated.checked };
      if (editing) await api('PATCH', `/api/v1/event-type/${enc(t.name)}`, { ...body, archived: el.archived.checked });
      else await api('POST', '/api/v1/event-type', { ...body, name: el.name.value.trim(), groupName: body.groupName || undefined, schemas: body.schemas || undefined });
      toast('Saved');
      go({ view: 'catalog' }, true);
    });
    return [h('div', { class: 'head' }, h('h1', {}, editing ? `Edit ${t.name}` : 'New event type')), form];
  }

  // ---- Start -----------------------------------------------------------------

  const VIEWS = {
    overview: overviewView, endpoints: endpointsView, endpoint: endpointView, 'new-endpoint': endpointForm, 'edit-endpoint': endpointForm,
    messages: messagesView, message: messageView, catalog: catalogView, 'event-type': eventTypeForm, 'new-event-type': eventTypeForm,
  };
  function render() {
    const r = route();
    if (!r.app) { page(r, () => appsView(r)); return; }
    if (!appName[r.app]) api('GET', appPath()).then((a) => { appName[a.id] = a.name; const c = document.querySelector('.crumbs a:last-child'); if (c) c.textContent = a.name; }).catch(() => {});
    page(r, () => (VIEWS[r.view] || overviewView)(r));
  }
  function theme() {
    const p = new URLSearchParams(location.search);
    const colour = p.get('primary');
    if (colour && /^#?[0-9a-fA-F]{6}$/.test(colour)) document.documentElement.style.setProperty('--primary', colour.startsWith('#') ? colour : `#${colour}`);
    const mode = p.get('theme') || 'auto';
    const dark = mode === 'dark' || (mode === 'auto' && window.matchMedia('(prefers-color-scheme: dark)').matches);
    document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  }
  async function start() {
    theme();
    const p = new URLSearchParams(location.search);
    const fragment = new URLSearchParams(location.hash.slice(1));
    const app = p.get('app');
    if (fragment.get('token') && app) {
      sessionStorage.setItem(`hookd.portal.${app}`, fragment.get('token'));
      // The token leaves the address bar, so it is not bookmarked or shared by accident.
      history.replaceState(null, '', location.pathname + location.search);
    }
    const kept = app && sessionStorage.getItem(`hookd.portal.${app}`);
    if (kept) {
      Object.assign(S, { token: kept, app, portal: true });
      try {
        const who = await api('GET', '/api/v1/auth/whoami');
        S.readOnly = !!who.readOnly;
        if (who.appId && who.appId !== app) S.app = who.appId;
      } catch (e) {
        sessionStorage.removeItem(`hookd.portal.${app}`);
        replace(root(), h('main', {}, h('div', { class: 'card' }, h('h1', {}, 'This link has expired'), h('p', {}, 'Ask for a new link to manage your webhooks.'))));
        return;
      }
      render();
      return;
    }
    const session = await api('GET', '/console/session').catch(() => ({}));
    if (!session.csrf) {
      signIn();
      return;
    }
    S.csrf = session.csrf;
    render();
  }
  start();
})();
