// shoal web console. Plain JavaScript, no framework and no build step: it
// calls the coordinator's /v1 API (docs/http-api.md) and builds its DOM with
// textContent only, under a strict Content-Security-Policy.
(() => {
  'use strict';

  const KEY_STORE = 'shoal.apiKey';
  const REFRESH_MS = 3000;
  const MODALITIES = ['sparse', 'dense', 'text'];

  const $ = (id) => document.getElementById(id);

  // h builds an element: h('td', {class: 'num'}, 'text', child, ...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'title') el.title = String(v);
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function fill(el, ...kids) {
    el.replaceChildren();
    for (const kid of kids.flat(Infinity)) {
      if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
  }

  const badge = (text, kind, title) => h('span', {class: 'badge' + (kind ? ' badge-' + kind : ''), title}, text);
  const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');
  const fmtScore = (s) => (typeof s === 'number' ? (Math.abs(s) >= 1000 || (s !== 0 && Math.abs(s) < 0.001) ? s.toExponential(3) : s.toFixed(4)) : '—');
  function fmtBytes(b) {
    if (typeof b !== 'number') return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b : b.toFixed(1)) + ' ' + units[i];
  }
  const enc = encodeURIComponent;

  // pretty is JSON.stringify with two-space indents that keeps arrays of
  // numbers and strings on one line (vectors stay readable).
  function pretty(v, ind = '') {
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v).replace(/,/g, ', ');
      return '[\n' + v.map((x) => ind + '  ' + pretty(x, ind + '  ')).join(',\n') + '\n' + ind + ']';
    }
    if (v && typeof v === 'object') {
      const ks = Object.keys(v);
      if (ks.length === 0) return '{}';
      return '{\n' + ks.map((k) => ind + '  ' + JSON.stringify(k) + ': ' + pretty(v[k], ind + '  ')).join(',\n') + '\n' + ind + '}';
    }
    return JSON.stringify(v);
  }

  // ---- API key ----------------------------------------------------------

  function getKey() {
    try { return sessionStorage.getItem(KEY_STORE) || ''; } catch (e) { return ''; }
  }
  function setKey(k) {
    try {
      if (k) sessionStorage.setItem(KEY_STORE, k); else sessionStorage.removeItem(KEY_STORE);
    } catch (e) { /* storage disabled: the key lives until the page closes */ }
    renderKeyState();
  }
  function renderKeyState() {
    const k = getKey();
    const st = $('keystate');
    st.textContent = k ? 'key set ···' + k.slice(-4) : 'no key';
    st.className = 'keystate' + (k ? ' set' : '');
    st.title = k ? 'Sent as "Authorization: Bearer …" on every API call; kept in this tab\'s session storage.' : 'No API key: calls go without Authorization.';
  }

  // ---- API calls --------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message, field, method, path) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
      this.method = method;
      this.path = path;
    }
  }

  // Auth failures by call, shown in the banner until that call succeeds.
  const authFailures = new Map();

  // request sends one call and answers {status, data}; it throws an
  // APIError only when the coordinator cannot be reached.
  async function request(method, path, body) {
    const headers = {Accept: 'application/json'};
    const key = getKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    const init = {method, headers, cache: 'no-store', credentials: 'same-origin'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'network', 'the coordinator did not answer (' + e.message + ')', undefined, method, path);
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    const what = method + ' ' + path.replace(/\?.*$/, '');
    if (resp.status === 401 || resp.status === 403) {
      authFailures.set(what, {status: resp.status, message: (data && data.error && data.error.message) || text.trim()});
    } else {
      authFailures.delete(what);
    }
    renderBanner();
    return {status: resp.status, data, text};
  }

  // api sends one call and answers its JSON body, or throws an APIError
  // carrying the API's error body.
  async function api(method, path, body) {
    const r = await request(method, path, body);
    if (r.status >= 200 && r.status < 300) return r.data;
    const e = (r.data && r.data.error) || {};
    throw new APIError(r.status, e.code || 'http_' + r.status, e.message || r.text.trim() || 'HTTP ' + r.status, e.field, method, path);
  }

  function renderBanner() {
    const b = $('banner');
    if (authFailures.size === 0) { b.hidden = true; b.replaceChildren(); return; }
    const has401 = [...authFailures.values()].some((f) => f.status === 401);
    const head = has401
      ? (getKey() ? '401 Unauthorized: the API key was not accepted. Enter another key above.' : '401 Unauthorized: this cluster needs an API key. Enter it above; it is kept in this tab\'s session storage only.')
      : '403 Forbidden: the API key\'s role does not allow some of the console\'s calls.';
    const calls = [...authFailures.entries()].map(([what, f]) => what + ' → ' + f.status + (f.message ? ' (' + f.message + ')' : ''));
    fill(b, h('div', null, head), h('div', {class: 'detail small'}, calls.join(' · ')));
    b.hidden = false;
  }

  // errorBox renders a failed call.
  function errorBox(err, what) {
    const auth = err.status === 401 || err.status === 403;
    const title = err.status === 401 ? '401 Unauthorized' : err.status === 403 ? '403 Forbidden'
      : err.status ? err.status + ' ' + err.code : 'Unreachable';
    const hint = err.status === 401 ? 'Give an API key above.' : err.status === 403 ? 'This key\'s role may not do this; use a key with a wider role.' : '';
    return h('div', {class: 'error' + (auth ? ' auth' : ''), role: 'alert'},
      h('strong', null, title), ' ', what ? what + ': ' : '',
      err.field ? h('code', null, err.field) : null, err.field ? ': ' : '',
      err.message, hint ? ' ' + hint : '');
  }

  // ---- state ------------------------------------------------------------

  const state = {
    tab: 'cluster',
    cluster: null,
    health: null,
    collections: null, // [Collection]
    selected: null, // collection shown in detail
    explainSupported: undefined, // whether the API accepts "explain"
    busy: false,
    want: undefined, // collection to select once the list is loaded
    again: false,
  };

  // ---- tabs -------------------------------------------------------------

  function showTab() {
    // #search/NAME opens the search tab on collection NAME.
    const [want, ...rest] = (location.hash || '#cluster').slice(1).split('/');
    state.tab = ['cluster', 'collections', 'search'].includes(want) ? want : 'cluster';
    if (state.tab === 'search' && rest.length) {
      try { state.want = decodeURIComponent(rest.join('/')); } catch (e) { state.want = undefined; }
      renderCollectionSelect();
    }
    for (const v of document.querySelectorAll('.view')) v.hidden = v.dataset.view !== state.tab;
    for (const a of document.querySelectorAll('.tabs a')) a.classList.toggle('active', a.dataset.tab === state.tab);
    refresh();
  }

  // ---- health -----------------------------------------------------------

  async function loadHealth() {
    try {
      const r = await request('GET', '/v1/health');
      state.health = r.data && typeof r.data.status === 'string' ? r.data : {status: 'HTTP ' + r.status};
    } catch (e) {
      state.health = {status: 'unreachable'};
    }
    const st = state.health.status;
    const kind = st === 'ok' ? 'ok' : st === 'degraded' ? 'warn' : 'bad';
    const shards = (state.health.shards || []).map((s) => s.collection + '/' + s.shard + ': ' + s.reason).join('\n');
    fill($('health'), badge('cluster ' + st, kind, shards || 'GET /v1/health'));
  }

  // ---- cluster map ------------------------------------------------------

  const roleKind = {leader: 'ok', follower: 'info', candidate: 'warn'};

  function nodeStateOf(n) {
    if (typeof n.state === 'string' && n.state) return n.state;
    return n.alive ? 'alive' : 'down';
  }
  function nodeStateKind(s) {
    if (['alive', 'up', 'active', 'ready', 'ok', 'serving'].includes(s)) return 'ok';
    if (['down', 'dead', 'failed', 'lost', 'unreachable'].includes(s)) return 'bad';
    return 'warn';
  }

  function segChips(segs) {
    if (!segs || segs.length === 0) return null;
    return h('div', {class: 'segs'}, segs.map((s) => {
      const label = s.state === 'buffer' ? 'buffer ' + fmtInt(s.docs) : '#' + s.id + ' · ' + fmtInt(s.docs);
      let title = (s.state === 'buffer' ? 'write buffer' : 'segment ' + s.id + ' (' + s.state + ')') +
        ': ' + fmtInt(s.docs) + ' docs, ' + fmtInt(s.deleted) + ' deleted, ' + fmtBytes(s.bytes);
      if (s.sparse) {
        const c = s.sparse;
        title += '\nsparse: ' + (c.exact ? 'exact scoring' : 'query_cut ' + c.query_cut + ', heap_factor ' + c.heap_factor) +
          (typeof c.expected_recall === 'number' ? ', expected recall ' + c.expected_recall.toFixed(3) : '');
      }
      return h('span', {class: 'seg seg-' + s.state, title}, label);
    }));
  }

  function liveDocs(segs) {
    if (!segs) return undefined;
    return segs.reduce((n, s) => n + (s.docs || 0) - (s.deleted || 0), 0);
  }

  // collectionCounts sums, per collection, each shard's live documents as
  // its leader (or else its fullest replica) reports them.
  function collectionCounts(cluster) {
    const out = {};
    for (const sh of (cluster && cluster.shards) || []) {
      const reps = (sh.replicas || []).filter((r) => !r.error);
      if (reps.length === 0) continue;
      const lead = reps.find((r) => r.role === 'leader');
      const n = lead ? lead.documents : Math.max(...reps.map((r) => r.documents || 0));
      out[sh.collection] = (out[sh.collection] || 0) + (n || 0);
    }
    return out;
  }

  async function loadCluster() {
    let cluster;
    try {
      cluster = await api('GET', '/v1/cluster');
      fill($('cluster-error'));
    } catch (e) {
      fill($('cluster-error'), errorBox(e, 'GET /v1/cluster'));
      return;
    }
    state.cluster = cluster;
    renderCluster();
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
  }

  // same reports whether what a panel would show is what it shows, so that
  // an auto-refresh that changed nothing leaves the page alone (selection,
  // hover and focus stay).
  const shown = {};
  function same(panel, ...data) {
    const k = JSON.stringify(data);
    if (shown[panel] === k) return true;
    shown[panel] = k;
    return false;
  }

  function renderCluster() {
    const c = state.cluster;
    if (!c || same('cluster', c, state.health)) return;
    const nodes = (c.nodes || []).slice().sort((a, b) => a.id.localeCompare(b.id, 'en', {numeric: true}));
    const shards = c.shards || [];
    const ids = nodes.map((n) => n.id);
    for (const sh of shards) for (const r of sh.replicas || []) if (!ids.includes(r.node)) ids.push(r.node);

    const perNode = {};
    for (const id of ids) perNode[id] = {replicas: 0, leaders: 0, docs: 0};
    for (const sh of shards) {
      for (const r of sh.replicas || []) {
        const p = perNode[r.node];
        p.replicas++;
        if (r.role === 'leader') p.leaders++;
        p.docs += r.documents || 0;
      }
    }
    const degraded = new Set(((state.health && state.health.shards) || []).map((s) => s.collection + '/' + s.shard));
    const counts = collectionCounts(c);
    const cols = [...new Set(shards.map((s) => s.collection))];
    const leaders = shards.filter((s) => (s.replicas || []).some((r) => r.role === 'leader')).length;
    const alive = nodes.filter((n) => nodeStateKind(nodeStateOf(n)) !== 'bad').length;

    const stat = (label, value, title) => h('div', {class: 'stat', title}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value));
    fill($('summary'),
      stat('Nodes up', alive + ' / ' + ids.length, 'alive / known (registered, or named in a placement)'),
      stat('Collections', cols.length),
      stat('Shards', shards.length),
      stat('Led shards', leaders + ' / ' + shards.length, 'shards whose raft group has a leader'),
      stat('Replicas', shards.reduce((n, s) => n + (s.replicas || []).length, 0)),
      stat('Documents', fmtInt(Object.values(counts).reduce((a, b) => a + b, 0)), 'live documents, counted on each shard\'s leader'));

    const known = new Set(['id', 'raft_addr', 'alive', 'state', 'note', 'replicas', 'joining', 'lost_at']);
    fill($('nodes'), ids.map((id) => {
      const n = nodes.find((x) => x.id === id) || {id, alive: false, note: 'not registered: stopped, or its lease expired'};
      const st = nodeStateOf(n);
      const kind = nodeStateKind(st);
      const extra = Object.entries(n).filter(([k, v]) => !known.has(k) && v !== null && typeof v !== 'object');
      const p = perNode[id];
      return h('div', {class: 'node' + (kind === 'bad' ? ' down' : kind === 'warn' ? ' other' : ''), 'data-node': id},
        h('div', {class: 'top'}, h('span', {class: 'id'}, id), h('div', {class: 'spacer'}), badge(st, kind)),
        h('div', {class: 'meta mono'}, n.raft_addr || n.note || '—'),
        n.lost_at ? h('div', {class: 'meta'}, 'lost at ' + new Date(n.lost_at).toLocaleString('en-GB')) : null,
        extra.map(([k, v]) => h('div', {class: 'meta'}, k + ': ' + v)),
        h('div', {class: 'counts'},
          h('span', {title: 'replicas placed on the node'}, h('b', null, typeof n.replicas === 'number' ? n.replicas : p.replicas), ' replicas'),
          n.joining ? h('span', {title: 'replicas being added to the node'}, h('b', null, n.joining), ' joining') : null,
          h('span', null, h('b', null, p.leaders), ' leaders'),
          h('span', null, h('b', null, fmtInt(p.docs)), ' docs')));
    }));

    if (shards.length === 0) {
      fill($('shardmap'), h('div', {class: 'card muted'}, 'No collections yet. Create one with POST /v1/collections or shoalctl.'));
      return;
    }
    const head = h('tr', null, h('th', null, 'Collection'), h('th', null, 'Shard'), ids.map((id) => h('th', null, id)));
    const rows = [];
    const perCol = {};
    for (const sh of shards) perCol[sh.collection] = (perCol[sh.collection] || 0) + 1;
    let lastCol = null;
    for (const sh of shards) {
      const reps = sh.replicas || [];
      const maxApplied = Math.max(0, ...reps.filter((r) => !r.error).map((r) => r.applied_index || 0));
      const isDegraded = degraded.has(sh.collection + '/' + sh.shard);
      const cells = ids.map((id) => {
        const r = reps.find((x) => x.node === id);
        if (!r && (sh.joining || []).includes(id)) {
          return h('td', {class: 'replica', 'data-node': id, 'data-role': 'joining'}, h('div', {class: 'line1'}, badge('joining', 'warn')),
            h('div', {class: 'idx'}, 'replica being added'));
        }
        if (!r) return h('td', {class: 'replica missing', title: id + ' holds no replica of this shard'}, '·');
        if (r.error) {
          return h('td', {class: 'replica'}, h('div', {class: 'line1'}, badge(r.role || 'unknown', 'bad')), h('div', {class: 'err'}, r.error));
        }
        const lag = maxApplied - (r.applied_index || 0);
        return h('td', {class: 'replica', 'data-node': id, 'data-role': r.role},
          h('div', {class: 'line1'}, badge(r.role, roleKind[r.role] || ''), h('span', {class: 'muted small'}, 'term ' + r.term)),
          h('div', {class: 'idx', title: 'applied index / last log index'}, 'applied ' + r.applied_index + ' / ' + r.last_index,
            lag > 0 ? h('span', {class: 'lag'}, ' (−' + lag + ')') : null),
          h('div', {class: 'idx'}, fmtInt(r.documents) + ' docs'),
          segChips(r.segments));
      });
      const first = sh.collection !== lastCol;
      lastCol = sh.collection;
      rows.push(h('tr', {class: isDegraded ? 'degraded' : null},
        first ? h('td', {class: 'colname group', rowspan: perCol[sh.collection]}, sh.collection,
          h('div', {class: 'muted small'}, fmtInt(counts[sh.collection] || 0) + ' docs')) : null,
        h('td', {class: 'shardcell'}, String(sh.shard), isDegraded ? [' ', badge('degraded', 'bad')] : null,
          sh.under_replicated ? h('div', null, badge('under-replicated', 'warn', 'fewer replicas than the replication factor are on live nodes')) : null,
          (sh.joining || []).length ? h('div', {class: 'muted small'}, 'moving to ' + sh.joining.join(', ')) : null),
        cells));
    }
    const legend = h('div', {class: 'legend'}, 'Segments:',
      h('span', null, h('span', {class: 'seg seg-buffer'}, 'buffer n'), 'write buffer, n live docs'),
      h('span', null, h('span', {class: 'seg seg-exact'}, '#id · n'), 'sealed, scored exactly (small)'),
      h('span', null, h('span', {class: 'seg seg-building'}, '#id · n'), 'indexes building'),
      h('span', null, h('span', {class: 'seg seg-ready'}, '#id · n'), 'indexed'),
      'Hover a segment for its size and calibration.');
    fill($('shardmap'), h('table', {class: 'shardmap'}, h('thead', null, head), h('tbody', null, rows)), legend);
  }

  // ---- collections ------------------------------------------------------

  async function loadCollections() {
    try {
      const list = await api('GET', '/v1/collections');
      state.collections = ((list && list.collections) || []).slice().sort((a, b) => a.name.localeCompare(b.name));
      fill($('collections-error'));
    } catch (e) {
      fill($('collections-error'), errorBox(e, 'GET /v1/collections'));
      return;
    }
    renderCollections();
    renderCollectionSelect();
  }

  function fieldChips(col) {
    const chips = [];
    if (col.sparse) chips.push('sparse <' + col.sparse.max_term + (col.sparse.index && col.sparse.index.kind ? ' ' + col.sparse.index.kind : ''));
    if (col.dense) chips.push('dense ' + col.dense.dim + 'd ' + (col.dense.metric || 'cosine') + (col.dense.codec ? ' ' + col.dense.codec : ''));
    if (col.multivector) chips.push('multivector ' + col.multivector.dim + 'd');
    if (hasText(col)) chips.push('text');
    return h('div', {class: 'chips'}, chips.map((c) => h('span', {class: 'chip'}, c)));
  }

  // hasText reports whether a collection declares a text field, whatever
  // its schema calls it.
  function hasText(col) {
    if (!col) return false;
    if (Object.keys(col).some((k) => k === 'text' || k.startsWith('text_'))) return true;
    if (col.sparse && col.sparse.query) return true; // text queries through the sparse field
    return Object.values(col.attributes || {}).includes('text');
  }

  function docCount(col) {
    const counts = collectionCounts(state.cluster);
    if (col.name in counts) return counts[col.name];
    let n = 0;
    let any = false;
    for (const p of col.placement || []) {
      const d = liveDocs(p.segments);
      if (d !== undefined) { n += d; any = true; }
    }
    return any ? n : undefined;
  }

  function renderCollections() {
    const cols = state.collections || [];
    if (same('collections', cols, collectionCounts(state.cluster), state.selected)) return;
    if (cols.length === 0) {
      fill($('collections'), h('div', {class: 'card muted'}, 'No collections yet.'));
      fill($('collection-detail'));
      return;
    }
    const rows = cols.map((col) => {
      const placement = col.placement || [];
      const led = placement.filter((p) => p.leader).length;
      const segs = placement.reduce((n, p) => n + (p.segments || []).filter((s) => s.state !== 'buffer').length, 0);
      const attrs = Object.entries(col.attributes || {}).map(([k, v]) => h('span', {class: 'chip'}, k + ': ' + v));
      return h('tr', {class: state.selected === col.name ? 'selected' : null, 'data-collection': col.name},
        h('td', {class: 'colname'}, h('button', {class: 'link', type: 'button', onclick: () => selectCollection(col.name)}, col.name)),
        h('td', {class: 'num'}, fmtInt(docCount(col))),
        h('td', {class: 'num'}, placement.length + ' × ' + (col.replication || (placement[0] && placement[0].replicas.length) || '—')),
        h('td', null, led === placement.length ? badge('all led', 'ok') : badge(led + ' / ' + placement.length + ' led', 'bad')),
        h('td', {class: 'num'}, segs),
        h('td', null, fieldChips(col)),
        h('td', null, h('div', {class: 'chips'}, attrs.length ? attrs : h('span', {class: 'muted'}, '—'))),
        h('td', null, h('button', {type: 'button', class: 'ghost', onclick: () => { location.hash = '#search/' + enc(col.name); }}, 'Search')));
    });
    fill($('collections'), h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', {class: 'num'}, 'Documents'), h('th', {class: 'num'}, 'Shards × replicas'),
        h('th', null, 'Leaders'), h('th', {class: 'num'}, 'Sealed segments'), h('th', null, 'Fields'), h('th', null, 'Attributes'), h('th', null, ''))),
      h('tbody', null, rows)));
    if (state.selected) loadDetail(state.selected);
  }

  function selectCollection(name) {
    state.selected = name;
    for (const tr of document.querySelectorAll('#collections tr[data-collection]')) tr.classList.toggle('selected', tr.dataset.collection === name);
    loadDetail(name);
  }

  async function loadDetail(name) {
    let col;
    try {
      col = await api('GET', '/v1/collections/' + enc(name));
    } catch (e) {
      fill($('collection-detail'), errorBox(e, 'GET /v1/collections/' + name));
      return;
    }
    if (state.selected !== name) return;
    const rows = [];
    for (const p of col.placement || []) {
      const segs = p.segments || [{state: '—'}];
      segs.forEach((s, i) => {
        rows.push(h('tr', null,
          i === 0 ? h('td', {rowspan: segs.length}, String(p.shard)) : null,
          i === 0 ? h('td', {rowspan: segs.length}, h('div', {class: 'chips'}, (p.replicas || []).map((r) => h('span', {class: 'chip'}, r + (r === p.leader ? ' ★' : ''))))) : null,
          h('td', null, s.state === 'buffer' ? 'buffer' : s.id === undefined ? '—' : '#' + s.id),
          h('td', null, s.state === '—' ? h('span', {class: 'muted'}, 'no leader answered') : badge(s.state, {ready: 'ok', building: 'warn', exact: 'info'}[s.state] || '')),
          h('td', {class: 'num'}, fmtInt(s.docs)),
          h('td', {class: 'num'}, fmtInt(s.deleted)),
          h('td', {class: 'num'}, s.state === 'buffer' && !s.bytes ? '—' : fmtBytes(s.bytes)),
          h('td', {class: 'small'}, s.sparse ? (s.sparse.exact ? 'exact scoring' : 'query_cut ' + s.sparse.query_cut + ', heap_factor ' + s.sparse.heap_factor +
            (typeof s.sparse.expected_recall === 'number' ? ', recall ≈ ' + s.sparse.expected_recall.toFixed(3) : '')) : '')));
      });
    }
    const spec = Object.assign({}, col);
    delete spec.placement;
    fill($('collection-detail'), h('div', {class: 'detail'},
      h('h2', null, 'Collection ', h('code', null, col.name), ' — shards and segments (as each shard\'s leader reports them; ★ marks the leader)'),
      h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Shard'), h('th', null, 'Replicas'), h('th', null, 'Segment'), h('th', null, 'State'),
          h('th', {class: 'num'}, 'Docs'), h('th', {class: 'num'}, 'Deleted'), h('th', {class: 'num'}, 'Size'), h('th', null, 'Sparse index'))),
        h('tbody', null, rows)),
      h('h2', null, 'Schema'),
      h('pre', null, pretty(spec))));
  }

  // ---- search -----------------------------------------------------------

  function renderCollectionSelect() {
    const sel = $('s-collection');
    const cur = sel.value;
    const names = (state.collections || []).map((c) => c.name);
    const had = [...sel.options].map((o) => o.value);
    if (had.join('\n') !== names.join('\n')) {
      fill(sel, names.length ? names.map((n) => h('option', {value: n}, n)) : h('option', {value: ''}, 'no collections'));
      if (names.includes(cur)) sel.value = cur;
    }
    if (state.want !== undefined && names.includes(state.want)) {
      sel.value = state.want;
      state.want = undefined;
    }
    onCollectionChange();
  }

  function currentCollection() {
    return (state.collections || []).find((c) => c.name === $('s-collection').value);
  }

  function onCollectionChange() {
    const col = currentCollection();
    if (!col) { fill($('s-schema')); return; }
    const parts = [];
    parts.push(col.sparse ? 'sparse: term ids < ' + col.sparse.max_term : 'no sparse field');
    parts.push(col.dense ? 'dense: ' + col.dense.dim + ' dimensions, ' + (col.dense.metric || 'cosine') : 'no dense field');
    parts.push(hasText(col) ? 'text field' : 'no text field (a text query is passed through and the API answers)');
    const attrs = Object.entries(col.attributes || {}).map(([k, v]) => k + ' (' + v + ')');
    if (attrs.length) parts.push('attributes: ' + attrs.join(', '));
    fill($('s-schema'), parts.join(' · '));
  }

  class InputError extends Error {
    constructor(field, message) { super(message); this.field = field; }
  }

  // parseSparse reads "term:weight" pairs (separated by spaces, commas or
  // new lines) or a JSON {"indices": [...], "values": [...]} object.
  function parseSparse(text) {
    const t = text.trim();
    if (!t) return undefined;
    if (t.startsWith('{')) {
      let v;
      try { v = JSON.parse(t); } catch (e) { throw new InputError('Sparse query', 'not valid JSON: ' + e.message); }
      if (!v || !Array.isArray(v.indices) || !Array.isArray(v.values)) throw new InputError('Sparse query', 'a JSON sparse vector needs "indices" and "values" arrays');
      return {indices: v.indices, values: v.values};
    }
    const pairs = [];
    const seen = new Set();
    for (const tok of t.split(/[\s,;]+/).filter(Boolean)) {
      const m = /^(\d+)\s*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$/.exec(tok);
      if (!m) throw new InputError('Sparse query', '"' + tok + '" is not a term:weight pair (e.g. 17:1.5)');
      const term = Number(m[1]);
      if (seen.has(term)) throw new InputError('Sparse query', 'term ' + term + ' appears twice');
      seen.add(term);
      pairs.push([term, Number(m[2])]);
    }
    pairs.sort((a, b) => a[0] - b[0]);
    return {indices: pairs.map((p) => p[0]), values: pairs.map((p) => p[1])};
  }

  function parseDense(text) {
    const t = text.trim();
    if (!t) return undefined;
    let v;
    try { v = JSON.parse(t.startsWith('[') ? t : '[' + t + ']'); } catch (e) { throw new InputError('Dense query', 'not a JSON array of numbers: ' + e.message); }
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new InputError('Dense query', 'must be a JSON array of numbers');
    return v;
  }

  function buildRequest() {
    const req = {};
    const k = Number($('s-k').value || 10);
    if (!Number.isInteger(k) || k < 1) throw new InputError('k', 'must be a whole number ≥ 1');
    req.k = k;
    const sparse = parseSparse($('s-sparse').value);
    if (sparse) req.sparse = sparse;
    const dense = parseDense($('s-dense').value);
    if (dense) req.dense = dense;
    const text = $('s-text').value.trim();
    if (text) req.text = text;
    const mods = MODALITIES.filter((m) => m in req);
    if (mods.length === 0) throw new InputError('Query', 'give a sparse, dense or text query');
    const f = $('s-filter').value.trim();
    if (f && f !== '{}') {
      try { req.filter = JSON.parse(f); } catch (e) { throw new InputError('Filter', 'not valid JSON: ' + e.message); }
      if (!req.filter || typeof req.filter !== 'object' || Array.isArray(req.filter)) throw new InputError('Filter', 'must be a JSON object');
    }
    if ($('s-consistency').value === 'strong') req.consistency = 'strong';
    if (mods.length > 1) {
      if ($('s-fusion').value !== 'rrf') req.fusion = $('s-fusion').value;
      const weights = {};
      for (const m of mods) {
        const w = $('s-w-' + m).value.trim();
        if (w !== '') {
          const n = Number(w);
          if (!Number.isFinite(n)) throw new InputError(m + ' weight', 'must be a number');
          weights[m] = n;
        }
      }
      if (Object.keys(weights).length) req.weights = weights;
    }
    return {req, mods};
  }

  // only returns req restricted to one modality, for the per-modality
  // explain the console computes when the API has none.
  function only(req, m) {
    const out = Object.assign({}, req);
    for (const x of MODALITIES) if (x !== m) delete out[x];
    delete out.fusion;
    delete out.weights;
    return out;
  }

  let searchSeq = 0;

  async function runSearch(ev) {
    ev.preventDefault();
    const col = $('s-collection').value;
    fill($('search-error'));
    if (!col) { fill($('search-error'), errorBox({message: 'no collection to search'}, 'Search')); return; }
    let built;
    try {
      built = buildRequest();
    } catch (e) {
      fill($('search-error'), h('div', {class: 'error', role: 'alert'}, h('strong', null, e.field || 'Input'), ': ', e.message));
      return;
    }
    const {req, mods} = built;
    const explain = $('s-explain').checked;
    const path = '/v1/collections/' + enc(col) + '/search';
    const seq = ++searchSeq;
    $('s-run').disabled = true;
    fill($('search-status'), 'searching…');
    const t0 = performance.now();
    let res;
    let sent = req;
    let mode = 'none';
    let per = null;
    try {
      if (explain && state.explainSupported !== false) {
        try {
          sent = Object.assign({}, req, {explain: true});
          res = await api('POST', path, sent);
          state.explainSupported = true;
          mode = 'api';
        } catch (e) {
          if (!(e.status === 400 && e.field === 'explain')) throw e;
          state.explainSupported = false;
        }
      }
      if (!res) {
        sent = req;
        res = await api('POST', path, req);
      }
      const ms = performance.now() - t0;
      if (explain && mode !== 'api' && mods.length > 1) {
        per = {};
        const answers = await Promise.all(mods.map((m) => api('POST', path, only(req, m))));
        mods.forEach((m, i) => { per[m] = answers[i].hits || []; });
        mode = 'console';
      }
      if (seq !== searchSeq) return;
      renderResults(col, res, ms, mods, mode, per, req.k);
    } catch (e) {
      if (seq !== searchSeq) return;
      fill($('search-status'));
      fill($('results'));
      fill($('search-error'), errorBox(e, 'POST ' + path));
    } finally {
      if (seq === searchSeq) $('s-run').disabled = false;
      renderRequest(path, sent);
    }
  }

  function renderRequest(path, body) {
    const curl = 'curl -s -XPOST "' + location.origin + path + '" \\\n  -H "Content-Type: application/json"' +
      (getKey() ? ' \\\n  -H "Authorization: Bearer $SHOAL_API_KEY"' : '') + " \\\n  -d '" + JSON.stringify(body) + "'";
    $('s-request-body').textContent = curl;
    $('s-request').hidden = false;
  }

  function explainCell(hit, mods, mode, per, k) {
    if (mode === 'api' && hit.explain !== undefined) {
      const ex = hit.explain;
      if (ex && typeof ex === 'object' && !Array.isArray(ex)) {
        return h('div', {class: 'explain'}, Object.entries(ex).map(([k, v]) => {
          if (typeof v === 'number') return h('span', null, k + ': ' + fmtScore(v));
          if (v && typeof v === 'object' && ('score' in v || 'rank' in v)) {
            return h('span', null, k + ': ' + ('rank' in v ? '#' + v.rank + ' ' : '') + ('score' in v ? fmtScore(v.score) : ''));
          }
          return h('span', null, k + ': ' + JSON.stringify(v));
        }));
      }
      return h('div', {class: 'explain'}, JSON.stringify(ex));
    }
    if (mode === 'console') {
      return h('div', {class: 'explain'}, mods.map((m) => {
        const list = per[m] || [];
        const i = list.findIndex((x) => x.id === hit.id);
        if (i < 0) return h('span', {class: 'absent'}, m + ': ' + (list.length < k ? 'no match' : 'not in top ' + k));
        return h('span', null, m + ': #' + (i + 1) + '  ' + fmtScore(list[i].score));
      }));
    }
    return h('div', {class: 'explain'}, mods.length === 1 ? mods[0] + ' score' : '—');
  }

  function renderResults(col, res, ms, mods, mode, per, k) {
    const hits = res.hits || [];
    const cov = res.coverage || {};
    const partial = cov.answered < cov.shards;
    fill($('search-status'),
      h('span', null, h('b', null, String(hits.length)), hits.length === 1 ? ' hit' : ' hits'),
      h('span', null, '· ' + ms.toFixed(0) + ' ms'),
      h('span', null, '· '), badge('coverage ' + cov.answered + ' / ' + cov.shards + ' shards', partial ? 'warn' : 'ok'),
      h('span', null, '· ' + mods.join(' + ') + (mods.length > 1 ? ' fused by ' + ($('s-fusion').value) : '')),
      mode === 'console' ? h('span', {class: 'small'}, '· explain: each modality searched on its own by the console') : null,
      mode === 'api' ? h('span', {class: 'small'}, '· explain: from the API') : null);
    if (hits.length === 0) {
      fill($('results'), h('div', {class: 'card muted'}, 'No hits.'));
      return;
    }
    const top = Math.max(...hits.map((x) => Math.abs(x.score)), 1e-12);
    const rows = hits.map((hit, i) => {
      const bar = h('div', {class: 'bar'});
      bar.style.width = Math.max(2, Math.round(100 * Math.abs(hit.score) / top)) + '%';
      return h('tr', {'data-id': hit.id},
        h('td', {class: 'num rank'}, String(i + 1)),
        h('td', {class: 'hit-id mono'}, h('button', {class: 'link', type: 'button', title: 'GET the document', onclick: () => showDocument(col, hit.id)}, hit.id)),
        h('td', {class: 'num score'}, fmtScore(hit.score)),
        h('td', {class: 'barcell'}, bar),
        h('td', null, explainCell(hit, mods, mode, per, k)));
    });
    fill($('results'), h('table', {class: 'hits'},
      h('thead', null, h('tr', null, h('th', {class: 'num'}, '#'), h('th', null, 'Id'), h('th', {class: 'num'}, 'Score'), h('th', null, ''), h('th', null, 'Per modality'))),
      h('tbody', null, rows)));
    fill($('document'));
  }

  async function showDocument(col, id) {
    try {
      const doc = await api('GET', '/v1/collections/' + enc(col) + '/documents/' + enc(id));
      fill($('document'), h('div', {class: 'detail'}, h('h2', null, 'Document ', h('code', null, id)), h('pre', null, pretty(doc))));
    } catch (e) {
      fill($('document'), errorBox(e, 'GET document ' + id));
    }
  }

  // ---- refresh loop -----------------------------------------------------

  // refresh loads what the open tab shows. A call while one runs is
  // remembered and run once that one ends.
  async function refresh() {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      await loadHealth();
      if (state.tab === 'cluster') {
        await loadCluster();
      } else if (state.tab === 'collections') {
        await loadCluster();
        await loadCollections();
      } else if (state.tab === 'search' && state.collections === null) {
        await loadCollections();
      }
    } finally {
      state.busy = false;
    }
    if (state.again) {
      state.again = false;
      refresh();
    }
  }

  function tick() {
    if (!$('autorefresh').checked || document.hidden) return;
    if (state.tab === 'search') loadHealth(); else refresh();
  }

  function init() {
    renderKeyState();
    $('keyform').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const k = $('apikey').value.trim();
      if (!k) return;
      setKey(k);
      $('apikey').value = '';
      authFailures.clear();
      renderBanner();
      state.collections = null;
      refresh();
    });
    $('forgetkey').addEventListener('click', () => { setKey(''); authFailures.clear(); renderBanner(); refresh(); });
    $('refresh').addEventListener('click', () => refresh());
    $('refresh-collections').addEventListener('click', () => refresh());
    $('searchform').addEventListener('submit', runSearch);
    $('searchform').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $('searchform').requestSubmit(); }
    });
    $('s-collection').addEventListener('change', onCollectionChange);
    window.addEventListener('hashchange', showTab);
    showTab();
    // The search tab needs the collection list even when opened first.
    loadCollections();
    setInterval(tick, REFRESH_MS);
  }

  document.addEventListener('DOMContentLoaded', init);
})();
