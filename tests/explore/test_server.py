"""
The explorer's server: pages, JSON endpoints, pictures, escaping, path
handling, bad indices and keys, damaged samples, decompression bombs, the
cache, the stream preview, speed on a big file, and the command line.
"""
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from explore.helpers import XSS_KEY, XSS_NOTE, write
from datadings_like.explore import HTML, make_server, show
from datadings_like.explore.model import FILTER_SCAN, MAX_PAGE
from datadings_like.explore.render import ImageCache
from datadings_like.explore.server import CSP, Explorer
from datadings_like.reader import MsgpackReader
from datadings_like.sets import CAMVID


@pytest.fixture(scope='module')
def explorer(datasets):
    e = Explorer([datasets['demo'], datasets['seg'], datasets['damaged']])
    yield e
    e.close()


def get(explorer, target):
    status, ctype, body = explorer.handle('GET', target)
    return status, ctype, body


def get_json(explorer, target, status=200):
    code, ctype, body = get(explorer, target)
    assert ctype == 'application/json'
    data = json.loads(body)
    assert code == status, data
    return data


def post(explorer, target, data, ctype='application/json'):
    code, _, body = explorer.handle('POST', target, json.dumps(data).encode(), ctype)
    return code, json.loads(body)


def picture(explorer, target):
    code, ctype, body = get(explorer, target)
    assert code == 200, body[:300]
    assert ctype.startswith('image/')
    return Image.open(io.BytesIO(body))


def demo_samples(datasets):
    with MsgpackReader(datasets['demo']) as reader:
        return [reader[i] for i in range(len(reader))]


# ------------------------------------------------------------ pages and paths

def test_page_files_are_served_from_the_package(explorer):
    code, ctype, body = get(explorer, '/')
    assert code == 200 and ctype.startswith('text/html')
    assert b'<script src="/app.js"' in body
    for target, kind in (('/app.js', 'text/javascript'), ('/style.css', 'text/css')):
        code, ctype, body = get(explorer, target)
        assert code == 200 and ctype.startswith(kind) and body


@pytest.mark.parametrize('target', [
    '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/static/app.js', '/app.js/../server.py',
    '//etc/passwd', '/explore/server.py', '/index.html/..', '/api/../app.js', '/img/../../x',
    '/api/files/../../etc/passwd', '/C:/Windows/win.ini', '/\\..\\..\\etc\\passwd',
])
def test_no_request_path_reaches_the_file_system(explorer, target):
    code, ctype, body = get(explorer, target)
    assert code == 404
    assert json.loads(body) == {'error': 'not found'}


@pytest.mark.parametrize('f, status', [('-1', 400), ('3', 404), ('../x', 400), ('', 400),
                                        ('0x1', 400), ('99999999999999999999999', 400)])
def test_files_are_chosen_by_number_only(explorer, f, status):
    data = get_json(explorer, f'/api/overview?f={f}', status)
    assert 'error' in data


def test_only_get_head_and_json_post(explorer):
    assert explorer.handle('PUT', '/api/files')[0] == 405
    assert explorer.handle('POST', '/api/files', b'{}', 'application/json')[0] == 405
    code, data = post(explorer, '/api/verify?f=0', {}, ctype='text/plain')
    assert code == 415
    code, _, body = explorer.handle('POST', '/api/stream?f=0', b'{nope', 'application/json')
    assert code == 400 and b'not JSON' in body


# ------------------------------------------------------------ overview

def test_files_and_overview(explorer, datasets):
    files = get_json(explorer, '/api/files')['files']
    assert [f['name'] for f in files] == ['train.msgpack', 'val.msgpack', 'damaged.msgpack']
    assert [f['set'] for f in files] == ['demo', 'CAMVID', None]
    o = get_json(explorer, '/api/overview?f=0')
    assert o['samples'] == 60
    assert o['size'] == datasets['demo'].stat().st_size
    assert o['index'] == 'present' and o['md5'] is True
    assert o['image_field'] == 'image'
    fields = {f['name']: f['types'] for f in o['fields']}
    assert fields == {'key': 'str', 'image': 'image', 'label': 'int'}
    labels = o['labels']
    assert labels['estimated'] is False       # 60 samples: all examined
    counts = {label: (count, name) for label, count, name in labels['counts']}
    assert counts[0] == (6, 'circle') and counts[9] == (6, 'crescent')
    seg = get_json(explorer, '/api/overview?f=1')
    types = {f['name']: f['types'] for f in seg['fields']}
    assert types['segments'] == 'Segments' and types['stack'] == 'ImageArray'
    assert types['label_image'] == 'image' and types['vector'] == 'ndarray float32'


def test_label_histogram_estimate_and_full_count(tmp_path, monkeypatch):
    from datadings_like.explore import model
    monkeypatch.setattr(model, 'LABEL_ESTIMATE_SAMPLES', 10)
    path = write(tmp_path / 'labels.msgpack',
                 [{'key': str(i), 'label': 'a' if i < 90 else 'b'} for i in range(100)])
    e = Explorer([path])
    try:
        estimate = get_json(e, '/api/overview?f=0')['labels']
        assert estimate['estimated'] is True and estimate['examined'] == 10
        full = get_json(e, '/api/labels?f=0&all=1')['labels']
        assert full['estimated'] is False
        assert full['counts'] == [['a', 90, None], ['b', 10, None]]
        # counted once: the filter uses the labels now, over the whole file
        page = get_json(e, '/api/page?f=0&label="b"&count=20')
        assert [t['index'] for t in page['items']] == list(range(90, 100))
    finally:
        e.close()


def test_verify_checks_the_md5_file(explorer):
    code, result = post(explorer, '/api/verify?f=0', {})
    assert code == 200 and result == {'data': True, 'index': True}
    code, result = post(explorer, '/api/verify?f=2', {})
    assert code == 200 and result['data'] is False   # damaged after the .md5 was written


# ------------------------------------------------------------ grid pages

def test_first_page_and_next_pages(explorer, datasets):
    samples = demo_samples(datasets)
    page = get_json(explorer, '/api/page?f=0&start=0&count=48')
    assert [t['key'] for t in page['items']] == [s['key'] for s in samples[:48]]
    assert [t['label'] for t in page['items']] == [s['label'] for s in samples[:48]]
    assert page['items'][0]['class'] == ('circle', 'square', 'triangle', 'rhombus', 'pentagon',
                                         'hexagon', 'star', 'cross', 'ring',
                                         'crescent')[samples[0]['label']]
    assert all(t['thumb'] for t in page['items'])
    assert page['next'] == 48 and page['total'] == 60
    last = get_json(explorer, '/api/page?f=0&start=48&count=48')
    assert [t['index'] for t in last['items']] == list(range(48, 60)) and last['next'] is None
    capped = get_json(explorer, '/api/page?f=0&count=100000')
    assert len(capped['items']) == min(60, MAX_PAGE)


@pytest.mark.parametrize('target, status', [
    ('/api/page?f=0&start=60', 404), ('/api/page?f=0&start=-1', 400),
    ('/api/page?f=0&count=0', 400), ('/api/page?f=0&start=abc', 400),
    ('/api/sample?f=0&i=60', 404), ('/api/sample?f=0&i=-61', 404), ('/api/sample?f=0', 400),
    ('/api/sample?f=0&i=1.5', 400), ('/img?f=0&i=100&view=thumb', 404),
    ('/api/find?f=0', 400),
])
def test_bad_indices(explorer, target, status):
    assert 'error' in get_json(explorer, target, status)


def test_negative_index_counts_from_the_end(explorer, datasets):
    sample = get_json(explorer, '/api/sample?f=0&i=-1')
    assert sample['index'] == 59 and sample['key'] == demo_samples(datasets)[59]['key']


def test_label_filter(explorer, datasets):
    samples = demo_samples(datasets)
    page = get_json(explorer, '/api/page?f=0&label=3&count=4')
    wanted = [i for i, s in enumerate(samples) if s['label'] == 3]
    assert [t['index'] for t in page['items']] == wanted[:4]
    assert page['next'] == wanted[3] + 1
    more = get_json(explorer, f'/api/page?f=0&label=3&count=4&start={page["next"]}')
    assert [t['index'] for t in more['items']] == wanted[4:8]
    # a string is not an int label
    assert get_json(explorer, '/api/page?f=0&label="3"')['items'] == []
    assert get_json(explorer, '/api/page?f=0&label=[1]', 400)


def test_label_filter_scans_a_bounded_number_of_samples(tmp_path):
    path = write(tmp_path / 'sparse.msgpack',
                 [{'key': str(i), 'label': int(i == FILTER_SCAN + 5)} for i in range(FILTER_SCAN + 10)])
    e = Explorer([path])
    try:
        first = get_json(e, '/api/page?f=0&label=1')
        assert first['items'] == [] and first['scanned'] == FILTER_SCAN
        assert first['next'] == FILTER_SCAN and not first['done']
        second = get_json(e, f'/api/page?f=0&label=1&start={first["next"]}')
        assert [t['index'] for t in second['items']] == [FILTER_SCAN + 5] and second['done']
    finally:
        e.close()


def test_random_page(explorer):
    a = get_json(explorer, '/api/page?f=0&random=7&count=10')
    b = get_json(explorer, '/api/page?f=0&random=7&count=10')
    c = get_json(explorer, '/api/page?f=0&random=8&count=10')
    indices = [t['index'] for t in a['items']]
    assert indices == [t['index'] for t in b['items']] != [t['index'] for t in c['items']]
    assert len(set(indices)) == 10 and all(0 <= i < 60 for i in indices)


def test_find_key(explorer):
    assert get_json(explorer, '/api/find?f=0&key=train-00042')['index'] == 42
    missing = get_json(explorer, '/api/find?f=0&key=train-99999', 404)
    assert 'train-99999' in missing['error']
    from urllib.parse import quote
    assert get_json(explorer, '/api/find?f=1&key=' + quote(XSS_KEY))['index'] == 1


# ------------------------------------------------------------ sample pages

def test_sample_fields(explorer):
    s = get_json(explorer, '/api/sample?f=1&i=1')
    assert s['key'] == XSS_KEY   # JSON carries the text; the page shows it as text
    kinds = {d['name']: d for d in s['fields']}
    assert kinds['image']['kind'] == 'image' and (kinds['image']['width'], kinds['image']['height']) == (48, 32)
    lm = kinds['label_image']
    assert lm['kind'] == 'labelmap' and lm['on'] == '1'
    legend = {e['value']: e for e in lm['legend']}
    assert legend[3]['class'] == 'Road' and legend[8]['class'] == 'Car'
    assert legend[3]['color'] == '#%02x%02x%02x' % tuple(CAMVID.COLORS[3])
    seg = kinds['segments']
    assert seg['kind'] == 'segments' and seg['count'] == 2 and seg['on'] == '1'
    assert seg['table'][0] == {'key': 0, 'label': 8, 'class': 'Car', 'bbox': [4, 6, 12, 20],
                               'area': 112,
                               'groups': ['objects'], 'iid': ['camvid', 'car']}
    stack = kinds['stack']
    assert stack['kind'] == 'imagearray' and stack['axes'] == [{'name': 'time', 'size': 4}]
    fix = kinds['experiments']
    assert fix['kind'] == 'fixations' and fix['observers'] == 2 and fix['points'] == 5
    assert kinds['raw']['kind'] == 'bytes' and kinds['raw']['size'] == 100
    assert kinds['raw']['hex'].startswith('00 01 02 03')
    assert kinds['vector']['kind'] == 'array' and kinds['vector']['shape'] == [5]
    assert kinds['note'] == {'name': 'note', 'path': '7', 'kind': 'text', 'text': XSS_NOTE,
                             'length': len(XSS_NOTE)}
    assert kinds['meta']['kind'] == 'map'
    assert [d['name'] for d in kinds['meta']['items']] == ['camera', 'frame']
    assert kinds['label']['kind'] == 'scalar' and s['label'] == 1


def test_pictures(explorer, datasets):
    thumb = picture(explorer, '/img?f=0&i=0&view=thumb')
    assert thumb.format == 'JPEG' and max(thumb.size) <= 160
    code, ctype, body = get(explorer, '/img?f=0&i=0&view=image&path=1')
    assert ctype == 'image/jpeg' and body == demo_samples(datasets)[0]['image']
    labelmap = np.asarray(picture(explorer, '/img?f=1&i=0&view=labelmap&path=2').convert('RGB'))
    assert (labelmap[0, -1] == CAMVID.COLORS[3]).all() and (labelmap[-1, 0] == CAMVID.COLORS[8]).all()
    overlay = np.asarray(picture(explorer, '/img?f=1&i=0&view=overlay&path=2&on=1').convert('RGB'))
    assert overlay.shape == (32, 48, 3) and not (overlay == labelmap).all()
    segments = picture(explorer, '/img?f=1&i=0&view=segments&path=3&on=1')
    assert segments.size == (48, 32)
    points = picture(explorer, '/img?f=1&i=0&view=fixations&path=5&on=1')
    assert points.size == (48, 32)
    slice0 = np.asarray(picture(explorer, '/img?f=1&i=0&view=slice&path=4&at=0'))
    slice2 = np.asarray(picture(explorer, '/img?f=1&i=0&view=slice&path=4&at=2'))
    assert slice0.shape == (32, 48) and (slice0 != slice2).any() and slice2.max() == 255
    vector_is_no_picture = get_json(explorer, '/img?f=1&i=0&view=array&path=9', 422)
    assert 'no picture' in vector_is_no_picture['error']


def test_heat_map(explorer):
    pytest.importorskip('scipy')
    heat = np.asarray(picture(explorer, '/img?f=1&i=0&view=heat&path=5&on=1').convert('RGB'))
    plain = np.asarray(picture(explorer, '/img?f=1&i=0&view=image&path=1').convert('RGB'))
    assert heat.shape == plain.shape and (heat != plain).any()


@pytest.mark.parametrize('query, status', [
    ('view=nope&path=1', 400), ('view=image', 400), ('view=image&path=99', 404),
    ('view=image&path=1.2.3.4.5.6', 400), ('view=image&path=../1', 400),
    ('view=slice&path=4&at=9', 422), ('view=slice&path=4&at=x', 400),
    ('view=labelmap&path=1', 422), ('view=segments&path=1', 422), ('view=image&path=8', 422),
])
def test_bad_picture_requests(explorer, query, status):
    assert 'error' in get_json(explorer, f'/img?f=1&i=0&{query}', status)


def test_damaged_sample_gives_an_error_on_its_tile_only(explorer):
    page = get_json(explorer, '/api/page?f=2')
    tiles = page['items']
    assert len(tiles) == 6
    assert 'cannot be decoded' in tiles[2]['error'] and 'key' not in tiles[2]
    assert all('error' not in t and t['key'] == f'd{i}' for i, t in enumerate(tiles) if i != 2)
    assert 'cannot be decoded' in get_json(explorer, '/api/sample?f=2&i=2', 422)['error']
    assert 'damaged' in get_json(explorer, '/img?f=2&i=3&view=thumb', 422)['error']
    for i in (0, 1, 5):
        picture(explorer, f'/img?f=2&i={i}&view=thumb')
    overview = get_json(explorer, '/api/overview?f=2')
    assert overview['damaged'] == 1 and overview['examined'] == 5


def test_decompression_bombs_are_refused(explorer, datasets):
    error = get_json(explorer, '/img?f=2&i=4&view=thumb', 422)['error']
    assert 'decompression bomb' in error
    field = get_json(explorer, '/api/sample?f=2&i=4')['fields'][1]
    assert field['kind'] == 'image' and 'decompression bomb' in field['error']
    # the limit is Pillow's unless given
    small = Explorer([datasets['demo']], max_pixels=1000)
    try:
        error = get_json(small, '/img?f=0&i=0&view=thumb', 422)['error']
        assert '64x64' in error and 'limit of 1000' in error
    finally:
        small.close()


def test_pictures_are_cached_in_a_bounded_cache(datasets):
    e = Explorer([datasets['demo']], cache_bytes=20000)
    try:
        for i in range(30):
            picture(e, f'/img?f=0&i={i}&view=thumb')
        assert 0 < e.cache.nbytes <= 20000 and len(e.cache) < 30
        hits = e.cache.hits
        picture(e, '/img?f=0&i=29&view=thumb')
        assert e.cache.hits == hits + 1
    finally:
        e.close()


def test_image_cache_drops_the_least_recently_used():
    cache = ImageCache(limit=10)
    cache.put('a', ('x', b'1234'))
    cache.put('b', ('x', b'1234'))
    cache.get('a')
    cache.put('c', ('x', b'1234'))
    assert cache.get('b') is None and cache.get('a') and cache.get('c') and cache.nbytes == 8
    cache.put('big', ('x', b'x' * 11))
    assert cache.get('big') is None


# ------------------------------------------------------------ stream preview

def test_stream_preview(explorer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    presets = get_json(explorer, '/api/presets?f=0')['presets']
    config = dict(presets[1]['config'], dump=1, workers=3)
    code, result = post(explorer, '/api/stream?f=0', {'config': config, 'batches': 2})
    assert code == 200, result
    assert len(result['batches']) == 2 and len(result['batches'][0]) == 8
    cells = {c['field']: c for c in result['batches'][0][0]}
    assert cells['image']['kind'] == 'image' and cells['image']['shape'] == [96, 96, 3]
    assert cells['image']['src'].startswith('data:image/png;base64,')
    assert cells['label']['kind'] == 'text'
    assert 'dump' in result['ignored'] and 'workers' in result['ignored']
    assert os.listdir(tmp_path) == []   # read-only: nothing dumped


def test_stream_preview_of_label_maps(explorer):
    presets = get_json(explorer, '/api/presets?f=1')['presets']
    segmentation = [p for p in presets if p['name'].startswith('segmentation')]
    assert segmentation
    code, result = post(explorer, '/api/stream?f=1', {'config': segmentation[0]['config']})
    assert code == 200, result
    fields = [c['field'] for c in result['batches'][0][0]]
    assert 'label_image' in fields and 'label_image over image' in fields


@pytest.mark.parametrize('config, words', [
    ({'bach_size': 8}, "unknown option 'bach_size'"),
    ({'transforms': ['Blur']}, "unknown transform 'Blur'"),
    ([1, 2], 'JSON object'),
])
def test_stream_preview_errors(explorer, config, words):
    code, result = post(explorer, '/api/stream?f=0', {'config': config})
    assert code == 400 and words in result['error']


# ------------------------------------------------------------ Jupyter

def test_reader_and_sample_html_escape_strings(datasets):
    with MsgpackReader(datasets['seg']) as reader:
        text = reader._repr_html_()
        assert XSS_KEY not in text and '&lt;script&gt;alert(1)&lt;/script&gt;' in text
        assert text.count('<img src="data:image/png;base64,') == 6
        view = show(reader[1])
    assert isinstance(view, HTML)
    sample_text = view._repr_html_()
    assert XSS_KEY not in sample_text and XSS_NOTE not in sample_text
    assert '&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;' in sample_text
    assert sample_text.count('data:image/png;base64,') == 2   # image and label_image
    assert 'Segments (2 segments)' in sample_text and 'ImageArray (32, 48, 4)' in sample_text


def test_reader_html_shows_damaged_samples_on_their_tile(datasets):
    with MsgpackReader(datasets['damaged']) as reader:
        text = show(reader).text
    assert 'cannot be decoded' in text and 'decompression bomb' in text
    assert text.count('<img src="data:') == 3    # samples 0, 1 and 5


def test_readers_do_not_import_the_explorer():
    code = ('import sys, datadings_like.reader as r; '
            'assert not any(m.startswith("datadings_like.explore") for m in sys.modules), "explore"; '
            'assert "datadings_like.reader._html" not in sys.modules')
    subprocess.run([sys.executable, '-c', code], check=True, timeout=60)


# ------------------------------------------------------------ big files

@pytest.fixture(scope='module')
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp('big') / 'big.msgpack'
    with open(path, 'wb'):
        pass
    from datadings_like.writer import FileWriter
    with FileWriter(path, overwrite=True, disable=True) as writer:
        for i in range(200000):
            writer.write({'key': f'{i:06d}', 'label': i % 7})
    return path


def test_first_page_of_a_big_file_does_not_pass_over_it(big, monkeypatch):
    e = Explorer([big])
    try:
        reader = e.files[0].reader
        calls = []
        original = type(reader).get

        def counting(self, index, *args, **kwargs):
            calls.append(index)
            return original(self, index, *args, **kwargs)
        monkeypatch.setattr(type(reader), 'get', counting)
        t0 = time.perf_counter()
        page = get_json(e, '/api/page?f=0&start=0&count=48')
        seconds = time.perf_counter() - t0
        assert [t['key'] for t in page['items']] == [f'{i:06d}' for i in range(48)]
        assert sorted(calls) == list(range(48))
        assert '_keys' not in reader.__dict__   # the keys file was not loaded either
        assert seconds < 2
        # a key lookup and a page far into the file read just as little
        calls.clear()
        assert get_json(e, '/api/find?f=0&key=199999')['index'] == 199999
        get_json(e, '/api/page?f=0&start=199990&count=48')
        assert sorted(calls) == list(range(199990, 200000))
    finally:
        e.close()


# ------------------------------------------------------------ HTTP and the command line

def request(url, target, method='GET', body=None, headers=None):
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope='module')
def server(datasets):
    srv = make_server([datasets['demo'], datasets['seg']])
    thread = srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    srv.explorer.close()
    thread.join(10)


def test_server_binds_this_machine_and_sends_security_headers(server):
    assert server.server_address[0] == '127.0.0.1' and server.server_address[1] > 0
    for target in ('/', '/api/files', '/img?f=0&i=0&view=thumb', '/nope'):
        status, headers, body = request(server.url, target)
        assert headers['Content-Security-Policy'] == CSP
        assert headers['X-Content-Type-Options'] == 'nosniff'
        assert "script-src 'self'" in CSP and 'unsafe-inline' not in CSP
    assert request(server.url, '/nope')[0] == 404
    status, headers, body = request(server.url, '/img?f=0&i=0&view=thumb')
    assert status == 200 and headers['Content-Type'] == 'image/jpeg'


def test_server_refuses_other_hosts(server):
    status, _, body = request(server.url, '/api/files', headers={'Host': 'evil.example:80'})
    assert status == 421 and b'unknown Host' in body
    port = server.server_address[1]
    assert request(server.url, '/api/files', headers={'Host': f'localhost:{port}'})[0] == 200


def test_server_post_needs_json(server):
    status, _, _ = request(server.url, '/api/verify?f=0', 'POST', b'{}',
                           {'Content-Type': 'application/x-www-form-urlencoded'})
    assert status == 415
    status, _, body = request(server.url, '/api/verify?f=0', 'POST', b'{}',
                              {'Content-Type': 'application/json'})
    assert status == 200 and json.loads(body)['data'] is True
    assert request(server.url, '/api/files', 'DELETE')[0] == 405


def _start_cli(*args, env=None):
    proc = subprocess.Popen([sys.executable, '-m', 'datadings_like.commands.explore', *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    return proc


def test_cli_serves_until_ctrl_c(datasets):
    env = dict(os.environ, DISPLAY=':99')   # --no-browser: no browser despite a display
    proc = _start_cli('--port', '0', '--no-browser', str(datasets['demo']), env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith('datadings-explore: serving 1 file at http://127.0.0.1:'), line
        url = line.split(' at ')[1].split()[0]
        status, _, body = request(url, '/api/files')
        assert status == 200 and json.loads(body)['files'][0]['samples'] == 60
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130 and err.strip() == 'datadings-explore: interrupted'
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_takes_a_free_port_when_the_default_is_taken(datasets):
    from datadings_like.commands.explore import DEFAULT_PORT
    blocker = socket.socket()
    try:
        try:
            blocker.bind(('127.0.0.1', DEFAULT_PORT))
            blocker.listen()
        except OSError:
            pass  # taken already: just as good
        proc = _start_cli('--no-browser', str(datasets['demo']))
        try:
            line = proc.stdout.readline()
            port = int(line.split('127.0.0.1:')[1].split('/')[0])
            assert port != DEFAULT_PORT
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        # a port given explicitly is not replaced
        proc = _start_cli('--no-browser', '--port', str(DEFAULT_PORT), str(datasets['demo']))
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and out == ''
        assert err.startswith(f'datadings-explore: error: cannot listen on 127.0.0.1:{DEFAULT_PORT}')
        assert len(err.strip().splitlines()) == 1
    finally:
        blocker.close()


@pytest.mark.parametrize('args, words', [
    (['missing.msgpack'], 'missing.msgpack: dataset file not found'),
    (['--set', 'NoSuchSet', 'DEMO'], "unknown dataset 'NoSuchSet'"),
    (['DIR'], 'is a directory'),
])
def test_cli_user_errors_are_one_line(datasets, tmp_path, args, words):
    args = [str(datasets['demo']) if a == 'DEMO' else str(tmp_path) if a == 'DIR' else a
            for a in args]
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.commands.explore', '--no-browser',
                           '--port', '0', *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith('datadings-explore: error: ') and words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_has_display(monkeypatch):
    from datadings_like.commands import explore
    monkeypatch.setattr(explore.sys, 'platform', 'linux')
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    assert not explore.has_display()
    monkeypatch.setenv('WAYLAND_DISPLAY', 'wayland-0')
    assert explore.has_display()


def test_set_guessing_and_choice(datasets):
    from datadings_like.explore.model import find_set
    assert find_set(datasets['demo']).name == 'demo'
    assert find_set(datasets['seg']).name == 'CAMVID'
    assert find_set(datasets['damaged']) is None
    assert find_set(datasets['damaged'], 'CIFAR10').class_name(3) == 'cat'
    with pytest.raises(ValueError, match='unknown dataset'):
        find_set(datasets['demo'], 'os')
