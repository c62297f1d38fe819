// datadings-explore: the page. Plain JavaScript, no build step.
// Every string from a dataset is untrusted: it only ever reaches the page
// through textContent, attribute values and encoded URL parameters, never
// through innerHTML.
'use strict';

const main = document.getElementById('main');
let files = [];

// ------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  return q.toString();
}

async function api(path, params, body) {
  const options = body === undefined ? {} : {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)};
  const response = await fetch(path + '?' + query(params || {}), options);
  let data;
  try { data = await response.json(); } catch (e) { data = {error: response.statusText}; }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function imgUrl(params) { return '/img?' + query(params); }

function picture(src, caption) {
  const img = el('img', {src: src, alt: caption || ''});
  const fig = el('figure', {}, img, caption ? el('figcaption', {text: caption}) : null);
  img.addEventListener('error', () => {
    // the server says why in its JSON answer
    fetch(src).then(r => r.json()).then(d => {
      fig.replaceChildren(el('div', {class: 'error', text: d.error || 'cannot be shown'}));
    }).catch(() => fig.replaceChildren(el('div', {class: 'error', text: 'cannot be shown'})));
  });
  return fig;
}

function labelText(label, cls) {
  if (label === undefined || label === null) return '';
  return 'label ' + JSON.stringify(label) + (cls ? ' (' + cls + ')' : '');
}

function hashParams() {
  const hash = location.hash.slice(1) || '/';
  const [path, q] = hash.split('?');
  return {parts: path.split('/').filter(Boolean), params: new URLSearchParams(q || '')};
}

function go(path, params) {
  const q = params ? query(params) : '';
  location.hash = '#' + path + (q ? '?' + q : '');
}

function showError(error) {
  main.replaceChildren(el('div', {class: 'card'}, el('div', {class: 'error', text: String(error.message || error)})));
  document.body.dataset.ready = '1';
}

// ------------------------------------------------------------ overview

function histogram(labels) {
  const counts = labels.counts;
  const max = Math.max(1, ...counts.map(c => c[1]));
  const bar = 18, width = 420, left = 190;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const shown = counts.slice(0, 200);
  svg.setAttribute('width', String(left + width + 70));
  svg.setAttribute('height', String(shown.length * bar + 4));
  svg.setAttribute('role', 'img');
  shown.forEach(([label, count, cls], row) => {
    const y = row * bar + 2;
    const name = document.createElementNS(ns, 'text');
    name.setAttribute('x', String(left - 6));
    name.setAttribute('y', String(y + 13));
    name.setAttribute('text-anchor', 'end');
    name.textContent = (cls ? cls + ' ' : '') + JSON.stringify(label);
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('x', String(left));
    rect.setAttribute('y', String(y + 2));
    rect.setAttribute('height', String(bar - 4));
    rect.setAttribute('width', String(Math.max(1, width * count / max)));
    const value = document.createElementNS(ns, 'text');
    value.setAttribute('x', String(left + width * count / max + 4));
    value.setAttribute('y', String(y + 13));
    value.textContent = String(count);
    svg.append(name, rect, value);
  });
  return el('div', {class: 'chart'}, svg,
    counts.length > shown.length ? el('p', {class: 'note', text: `${counts.length - shown.length} more labels`}) : null);
}

function labelsBlock(f, labels) {
  const box = el('div', {class: 'labels'});
  const fill = (labels) => {
    box.replaceChildren();
    if (!labels || !labels.counts.length) {
      box.append(el('p', {class: 'note', text: 'No "label" field.'}));
      return;
    }
    const what = labels.estimated
      ? `estimated from ${labels.examined} of ${labels.total} samples`
      : `all ${labels.total} samples`;
    box.append(el('p', {class: 'note', text: `${labels.counts.length} labels, ${what}` +
      (labels.errors ? `, ${labels.errors} samples unreadable` : '')}));
    if (labels.estimated) {
      box.append(el('button', {text: 'count all labels', onclick: async (ev) => {
        ev.target.disabled = true;
        ev.target.textContent = 'counting…';
        try { fill((await api('/api/labels', {f: f, all: 1})).labels); } catch (e) { box.append(el('div', {class: 'error', text: e.message})); }
      }}));
    }
    box.append(histogram(labels));
  };
  fill(labels);
  return box;
}

async function viewOverview() {
  const cards = [];
  for (const file of files) {
    const o = await api('/api/overview', {f: file.id});
    const verify = el('span', {class: 'verify'});
    const md5 = el('dd', {}, o.md5 ? 'present ' : 'missing ', o.md5 ? el('button', {text: 'check md5', onclick: async (ev) => {
      ev.target.disabled = true;
      verify.textContent = ' checking…';
      try {
        const r = await api('/api/verify', {f: o.id}, {});
        verify.textContent = ` data: ${r.data === null ? 'not listed' : r.data ? 'OK' : 'MISMATCH'}, index: ${r.index === null ? 'not listed' : r.index ? 'OK' : 'MISMATCH'}` + (r.error ? ` (${r.error})` : '');
      } catch (e) { verify.textContent = ' ' + e.message; }
    }}) : null, verify);
    const fields = el('table', {class: 'fields'}, el('tr', {}, el('th', {text: 'field'}), el('th', {text: 'types'}), el('th', {text: 'example'}), el('th', {text: 'in'})));
    for (const field of o.fields) {
      fields.append(el('tr', {}, el('td', {text: field.name}), el('td', {text: field.types}), el('td', {text: field.example}), el('td', {text: `${field.count} of ${o.examined}`})));
    }
    cards.push(el('section', {class: 'card overview', 'data-file': o.id},
      el('h1', {text: o.name}),
      el('dl', {class: 'facts'},
        el('dt', {text: 'path'}), el('dd', {text: o.path}),
        el('dt', {text: 'samples'}), el('dd', {class: 'samples', text: o.samples}),
        el('dt', {text: 'size'}), el('dd', {text: o.size_text ? `${o.size_text} (${o.size} bytes)` : 'unknown'}),
        el('dt', {text: 'index'}), el('dd', {text: o.index + (o.index_files.length ? ' (' + o.index_files.join(', ') + ')' : '')}),
        el('dt', {text: 'md5'}), md5,
        el('dt', {text: 'dataset'}), el('dd', {text: o.set || 'unknown (class names and colours: --set NAME)'})),
      el('p', {}, el('a', {href: `#/grid/${o.id}`, text: 'samples'}), ' · ', el('a', {href: `#/stream/${o.id}`, text: 'stream preview'})),
      el('h2', {text: `Fields (from ${o.examined} samples spread over the file${o.damaged ? ', ' + o.damaged + ' unreadable' : ''})`}), fields,
      el('h2', {text: 'Labels'}), labelsBlock(o.id, o.labels)));
  }
  main.replaceChildren(...cards);
}

// ------------------------------------------------------------ grid

function tile(f, item) {
  const node = el('div', {class: 'tile' + (item.error ? ' damaged' : ''), 'data-index': item.index,
    onclick: () => go(`/sample/${f}/${item.index}`)});
  node.append(el('div', {class: 'index', text: '#' + item.index}));
  if (item.error) {
    node.append(el('div', {class: 'error', text: item.error}));
    return node;
  }
  const pic = el('div', {class: 'pic'});
  if (item.thumb) {
    const img = el('img', {class: 'thumb', alt: '', src: imgUrl({f: f, i: item.index, view: 'thumb'})});
    img.addEventListener('error', () => pic.replaceChildren(el('div', {class: 'error', text: 'no thumbnail: the image cannot be read'})));
    pic.append(img);
  } else {
    pic.append(el('span', {class: 'note', text: 'no image'}));
  }
  node.append(pic, el('div', {class: 'key', title: item.key, text: item.key === null ? '(no key)' : item.key}));
  if (item.label !== undefined) node.append(el('div', {class: 'label', text: labelText(item.label, item.class)}));
  return node;
}

async function viewGrid(f, params) {
  const start = parseInt(params.get('start') || '0', 10) || 0;
  const count = parseInt(params.get('count') || '48', 10) || 48;
  const label = params.get('label');
  const random = params.get('random');
  const file = files[f];
  const overview = await api('/api/overview', {f: f});
  const page = await api('/api/page', {f: f, start: start, count: count, label: label, random: random});
  const state = {start: start, count: count, label: label};
  const jump = el('input', {type: 'number', min: 0, max: Math.max(0, page.total - 1), placeholder: 'index'});
  const key = el('input', {type: 'text', placeholder: 'key'});
  const message = el('span', {class: 'error'});
  const select = el('select', {}, el('option', {value: '', text: 'all labels'}));
  for (const [value, n, cls] of (overview.labels ? overview.labels.counts : [])) {
    const option = el('option', {value: JSON.stringify(value), text: (cls ? cls + ' ' : '') + JSON.stringify(value)});
    if (label !== null && option.value === label) option.selected = true;
    select.append(option);
  }
  const controls = el('div', {class: 'controls'},
    el('button', {text: '◀ previous', disabled: (start === 0 || random !== null || label !== null) ? '' : null,
      onclick: () => go(`/grid/${f}`, {start: Math.max(0, start - count), count: count})}),
    el('button', {text: 'next ▶', disabled: page.next === null ? '' : null,
      onclick: () => go(`/grid/${f}`, {start: page.next, count: count, label: label})}),
    el('form', {onsubmit: (ev) => { ev.preventDefault(); const i = parseInt(jump.value, 10); if (i >= 0) go(`/grid/${f}`, {start: i, count: count}); }}, jump, el('button', {text: 'go'})),
    el('form', {onsubmit: async (ev) => {
      ev.preventDefault();
      try { const r = await api('/api/find', {f: f, key: key.value}); go(`/sample/${f}/${r.index}`); }
      catch (e) { message.textContent = e.message; }
    }}, key, el('button', {text: 'find key'})),
    select,
    el('button', {text: 'random page', onclick: () => go(`/grid/${f}`, {random: Math.floor(Math.random() * 1e9), count: count})}),
    message);
  select.addEventListener('change', () => go(`/grid/${f}`, {start: 0, count: count, label: select.value}));
  let what;
  if (random !== null) what = `${page.items.length} random samples of ${page.total}`;
  else if (label !== null) what = `${page.items.length} samples with label ${label} from index ${start}, ${page.scanned} looked at` + (page.done ? ' (end of file)' : '');
  else what = `samples ${start} to ${start + page.items.length - 1} of ${page.total}`;
  const grid = el('div', {class: 'grid'}, ...page.items.map(item => tile(f, item)));
  main.replaceChildren(el('h1', {text: file.name}), controls, el('p', {class: 'note summary', text: what}), grid);
}

// ------------------------------------------------------------ sample

function fieldBlock(f, i, d) {
  const box = el('div', {class: 'field', 'data-kind': d.kind, 'data-path': d.path},
    el('div', {class: 'name'}, d.name, el('span', {class: 'kind', text: d.kind})));
  if (d.error) {
    box.append(el('div', {class: 'error', text: d.error}));
    return box;
  }
  const src = (params) => imgUrl(Object.assign({f: f, i: i, path: d.path}, params));
  switch (d.kind) {
    case 'image':
      box.append(el('div', {class: 'pics'}, picture(src({view: 'image'}), `${d.format} ${d.width}×${d.height} ${d.mode}, ${d.size} bytes`)));
      break;
    case 'labelmap': {
      const pics = el('div', {class: 'pics'}, picture(src({view: 'labelmap'}), 'label map'));
      if (d.on !== null && d.on !== undefined) pics.append(picture(src({view: 'overlay', on: d.on}), 'over the image'));
      box.append(pics);
      const legend = el('div', {class: 'legend'});
      for (const entry of d.legend || []) {
        const swatch = el('span', {class: 'swatch'});
        swatch.style.background = entry.color;
        legend.append(el('span', {}, swatch, (entry.class ? entry.class + ' ' : '') + entry.value + ` (${entry.pixels} px)`));
      }
      box.append(legend);
      break;
    }
    case 'segments': {
      box.append(el('p', {class: 'note', text: `${d.count} segments` + (d.shape ? ` on ${d.shape[1]}×${d.shape[0]}` : '') + (d.groups.length ? `, groups: ${d.groups.join(', ')}` : '')}));
      box.append(el('div', {class: 'pics'}, picture(src({view: 'segments', on: d.on}), 'masks and bounding boxes')));
      const table = el('table', {}, el('tr', {}, ...['key', 'label', 'bbox (minr, minc, maxr, maxc)', 'area', 'groups', 'iid'].map(t => el('th', {text: t}))));
      for (const s of d.table) {
        table.append(el('tr', {}, el('td', {text: s.key}), el('td', {text: JSON.stringify(s.label) + (s['class'] ? ` (${s['class']})` : '')}), el('td', {text: s.bbox.join(', ')}),
          el('td', {text: s.area}), el('td', {text: s.groups.join(', ')}), el('td', {text: s.iid ? s.iid.join(': ') : ''})));
      }
      box.append(table);
      break;
    }
    case 'fixations': {
      box.append(el('p', {class: 'note', text: `${d.observers} observers, ${d.points} points`}));
      const holder = el('div', {class: 'pics'}, picture(src({view: 'fixations', on: d.on}), 'fixations'));
      const buttons = el('div', {class: 'controls'},
        el('button', {text: 'points', onclick: () => holder.replaceChildren(picture(src({view: 'fixations', on: d.on}), 'fixations'))}),
        d.heat ? el('button', {text: 'heat map', onclick: () => holder.replaceChildren(picture(src({view: 'heat', on: d.on}), 'heat map'))})
          : el('span', {class: 'note', text: 'heat map: needs scipy'}));
      box.append(buttons, holder);
      const nested = el('details', {}, el('summary', {text: 'experiments'}));
      for (const item of d.items || []) nested.append(fieldBlock(f, i, item));
      box.append(nested);
      break;
    }
    case 'imagearray': {
      box.append(el('p', {class: 'note', text: `ImageArray ${d.dtype} shape [${d.shape.join(', ')}], ${d.codec}` + (d.dim_names ? ` (${d.dim_names.join(', ')})` : '')}));
      const at = d.axes.map(() => 0);
      const holder = el('div', {class: 'pics'});
      const show = () => holder.replaceChildren(picture(src({view: 'slice', at: at.join(',')}), 'slice [' + at.join(', ') + ']'));
      const sliders = el('div', {class: 'slider'});
      d.axes.forEach((axis, k) => {
        const out = el('span', {text: '0'});
        const input = el('input', {type: 'range', min: 0, max: axis.size - 1, value: 0, step: 1, 'data-axis': k});
        input.addEventListener('input', () => { at[k] = parseInt(input.value, 10); out.textContent = input.value; show(); });
        sliders.append(el('label', {}, `${axis.name} (${axis.size}): `, input, ' ', out));
      });
      box.append(sliders, holder);
      show();
      break;
    }
    case 'array':
      box.append(el('p', {class: 'note', text: `ndarray ${d.dtype} [${d.shape.join(', ')}]`}));
      if (d.image) box.append(el('div', {class: 'pics'}, picture(src({view: 'array'}), 'as a picture')));
      box.append(el('pre', {text: d.text}));
      break;
    case 'bytes':
      box.append(el('p', {class: 'note', text: `${d.size} bytes` + (d.format ? ` (${d.format})` : '')}), el('pre', {class: 'hex', text: d.hex + (d.size > 64 ? ' …' : '')}));
      break;
    case 'list':
    case 'map': {
      box.append(el('p', {class: 'note', text: `${d.kind} of ${d.length}` + (d.items.length < d.length ? `, first ${d.items.length} shown` : '')}));
      const nested = el('div', {class: 'nested'});
      for (const item of d.items) nested.append(fieldBlock(f, i, item));
      box.append(nested);
      break;
    }
    default:
      box.append(el('pre', {class: 'value', text: d.text}));
  }
  return box;
}

async function viewSample(f, i) {
  const file = files[f];
  let s;
  try {
    s = await api('/api/sample', {f: f, i: i});
  } catch (e) {
    main.replaceChildren(el('h1', {text: `${file.name} #${i}`}), sampleNav(f, i, file.samples), el('div', {class: 'card'}, el('div', {class: 'error', text: e.message})));
    return;
  }
  main.replaceChildren(
    el('h1', {class: 'sample-key', text: s.key === null ? `#${s.index}` : s.key}),
    sampleNav(f, s.index, s.total),
    el('p', {class: 'note', text: `${file.name}, sample ${s.index} of ${s.total}` + (s.label !== null ? ', ' + labelText(s.label, s.class) : '')}),
    ...s.fields.map(d => fieldBlock(f, s.index, d)));
}

function sampleNav(f, i, total) {
  return el('div', {class: 'controls'},
    el('button', {text: '◀ previous', disabled: i <= 0 ? '' : null, onclick: () => go(`/sample/${f}/${i - 1}`)}),
    el('button', {text: 'next ▶', disabled: i >= total - 1 ? '' : null, onclick: () => go(`/sample/${f}/${i + 1}`)}),
    el('a', {href: `#/grid/${f}?start=${Math.max(0, i - (i % 48))}`, text: 'back to the grid'}));
}

// ------------------------------------------------------------ stream preview

async function viewStream(f) {
  const file = files[f];
  const presets = (await api('/api/presets', {f: f})).presets;
  const text = el('textarea', {spellcheck: 'false'});
  text.value = JSON.stringify(presets[presets.length > 1 ? 1 : 0].config, null, 2);
  const select = el('select', {}, ...presets.map((p, k) => el('option', {value: k, text: p.name})));
  select.value = String(presets.length > 1 ? 1 : 0);
  select.addEventListener('change', () => { text.value = JSON.stringify(presets[parseInt(select.value, 10)].config, null, 2); });
  const batches = el('input', {type: 'number', min: 1, max: 4, value: 1});
  const out = el('div', {class: 'stream-out'});
  const run = async () => {
    let config;
    try { config = JSON.parse(text.value); } catch (e) { out.replaceChildren(el('div', {class: 'error', text: 'not JSON: ' + e.message})); return; }
    out.replaceChildren(el('p', {class: 'note', text: 'streaming…'}));
    try {
      const r = await api('/api/stream', {f: f}, {config: config, batches: parseInt(batches.value, 10) || 1});
      const parts = [el('p', {class: 'note', text: r.stream + (r.ignored.length ? '; ignored: ' + r.ignored.join(', ') : '')})];
      r.batches.forEach((batch, b) => {
        const box = el('div', {class: 'batch card'}, el('h2', {text: `batch ${b}`}));
        for (const cells of batch) {
          box.append(el('div', {class: 'row'}, ...cells.map(c => c.kind === 'image'
            ? el('div', {class: 'cell'}, el('img', {src: c.src, alt: c.field}), el('div', {text: c.field + (c.shape ? ` [${c.shape.join(', ')}] ${c.dtype}` : '')}))
            : el('div', {class: 'cell'}, el('div', {class: 'note', text: c.field}), el('div', {text: c.text})))));
        }
        parts.push(box);
      });
      out.replaceChildren(...parts);
    } catch (e) {
      out.replaceChildren(el('div', {class: 'error', text: e.message}));
    }
    document.body.dataset.ready = '1';
  };
  main.replaceChildren(el('h1', {text: `${file.name}: stream preview`}),
    el('p', {class: 'note', text: 'The options of datadings_like.stream.Stream (as in a datadings-stream config); the preview transforms in the explorer, without workers, and writes nothing.'}),
    el('div', {class: 'controls'}, 'example: ', select, ' batches: ', batches, el('button', {class: 'run', text: 'stream', onclick: run})),
    text, out);
}

// ------------------------------------------------------------ routing

async function route() {
  document.body.dataset.ready = '0';
  const {parts, params} = hashParams();
  try {
    if (parts.length === 0) await viewOverview();
    else if (parts[0] === 'grid' && files[parts[1]]) await viewGrid(parseInt(parts[1], 10), params);
    else if (parts[0] === 'sample' && files[parts[1]]) await viewSample(parseInt(parts[1], 10), parseInt(parts[2], 10) || 0);
    else if (parts[0] === 'stream' && files[parts[1]]) await viewStream(parseInt(parts[1], 10));
    else main.replaceChildren(el('p', {class: 'error', text: 'no such page'}));
    document.body.dataset.ready = '1';
  } catch (e) {
    showError(e);
  }
}

async function start() {
  try {
    files = (await api('/api/files')).files;
  } catch (e) {
    showError(e);
    return;
  }
  const nav = document.getElementById('files');
  for (const file of files) {
    nav.append(el('a', {href: `#/grid/${file.id}`, text: file.name, title: file.path}));
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
