"""
The explorer's web server: the standard library's
:py:class:`http.server.ThreadingHTTPServer` serving the page (plain
HTML, CSS and JavaScript kept in the package), JSON endpoints and
pictures.

Routes (all ``GET`` unless said otherwise; ``f`` is a file's number in the
list the explorer was given, ``i`` a sample index, ``path`` a value's path
of positions, e.g. ``2`` or ``3.0``):

- ``/``, ``/app.js``, ``/style.css``: the page;
- ``/api/files``: the files;
- ``/api/overview?f=``: samples, size, index state, fields, label histogram
  (an estimate; ``/api/labels?f=&all=1`` counts all labels);
- ``/api/verify?f=`` (``POST``): check the data and index files against the
  ``.md5`` file;
- ``/api/page?f=&start=&count=[&label=JSON][&random=SEED]``: grid tiles;
- ``/api/find?f=&key=``: the index of a key;
- ``/api/sample?f=&i=``: every field of a sample, described;
- ``/img?f=&i=&view=[&path=][&on=][&at=]``: a picture (see
  :py:data:`~datadings_like.explore.render.VIEWS`);
- ``/api/presets?f=`` and ``/api/stream?f=`` (``POST``, a JSON config):
  the stream preview.

No part of a request reaches the file system: files are chosen by number,
the page's files by name from a fixed table. Every response carries a
``Content-Security-Policy`` (scripts and styles only from the server, no
inline code) and ``X-Content-Type-Options: nosniff``; requests whose
``Host`` is not the server's own address are refused (a web page cannot
reach the explorer by DNS rebinding), and ``POST`` needs a JSON body, which
browsers send across sites only after a preflight the server does not
allow.
"""
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs
from urllib.parse import urlsplit
import json
import threading

from ..errors import DatasetError
from .model import ExploredFile
from .model import parse_path
from .model import describe_sample
from .model import is_label_name
from .render import DEFAULT_CACHE_BYTES
from .render import ImageCache
from .render import RenderError
from .render import VIEWS
from .render import legend
from .render import render

__all__ = ('CSP', 'Explorer', 'ExplorerServer', 'make_server')

#: the Content-Security-Policy of every response
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STATIC = {
    '/': ('index.html', 'text/html; charset=utf-8'),
    '/index.html': ('index.html', 'text/html; charset=utf-8'),
    '/app.js': ('app.js', 'text/javascript; charset=utf-8'),
    '/style.css': ('style.css', 'text/css; charset=utf-8'),
}
_MAX_BODY = 1 << 20
_MAX_QUERY = 8192


class HTTPError(Exception):
    """An error answered with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _static(name):
    return resources.files(__package__).joinpath('static', name).read_bytes()


def _int(query, name, default=None, low=None):
    values = query.get(name)
    if not values:
        if default is None:
            raise HTTPError(400, f'missing parameter {name!r}')
        return default
    text = values[0].strip()
    try:
        if len(text) > 20:
            raise ValueError
        value = int(text)
    except ValueError:
        raise HTTPError(400, f'parameter {name!r} must be an integer, not {text[:40]!r}') from None
    if low is not None and value < low:
        raise HTTPError(400, f'parameter {name!r} must be at least {low}, not {value}')
    return value


def _str(query, name, default=None):
    values = query.get(name)
    if not values:
        if default is None:
            raise HTTPError(400, f'missing parameter {name!r}')
        return default
    return values[0]


class Explorer:
    """
    The explorer's state and request handling, without the HTTP transport:
    :py:meth:`handle` answers one request.

    Parameters:
        paths: the dataset files (only these are served)
        set_name: dataset module for class names and colours (None: guess
            it per file from its path)
        max_pixels: largest image in pixels that is decoded (default:
            Pillow's decompression-bomb limit, ``PIL.Image.MAX_IMAGE_PIXELS``)
        cache_bytes: byte limit of the cache of rendered pictures

    Attributes:
        files: the :py:class:`~datadings_like.explore.model.ExploredFile` objects
        cache: the :py:class:`~datadings_like.explore.render.ImageCache`

    Raises:
        FileNotFoundError, DatasetError, UserError: a file cannot be opened
        ValueError: no files, or an unknown ``set_name``
    """

    def __init__(self, paths, set_name=None, max_pixels=None, cache_bytes=DEFAULT_CACHE_BYTES):
        paths = list(paths)
        if not paths:
            raise ValueError('the explorer needs at least one dataset file')
        self.files = []
        try:
            for number, path in enumerate(paths):
                self.files.append(ExploredFile(path, number, set_name, max_pixels))
        except BaseException:
            self.close()
            raise
        self.max_pixels = max_pixels
        self.cache = ImageCache(cache_bytes)

    def close(self):
        """Close the files."""
        for f in self.files:
            f.close()

    # ------------------------------------------------------------ dispatch

    def handle(self, method, target, body=b'', content_type=''):
        """
        Answer a request.

        Parameters:
            method: ``GET``, ``HEAD`` or ``POST``
            target: the request target (path and query)
            body: the request body (``POST``)
            content_type: its ``Content-Type``

        Returns:
            ``(status, content type, body bytes)``
        """
        try:
            if len(target) > _MAX_QUERY:
                raise HTTPError(414, 'request target too long')
            parts = urlsplit(target)
            route = parts.path
            query = parse_qs(parts.query, keep_blank_values=True, max_num_fields=20)
            if method in ('GET', 'HEAD'):
                if route in _STATIC:
                    name, ctype = _STATIC[route]
                    return 200, ctype, _static(name)
                handler = self._GET.get(route)
                if handler is None:
                    raise HTTPError(404, 'not found')
                return handler(self, query)
            if method == 'POST':
                handler = self._POST.get(route)
                if handler is None:
                    raise HTTPError(404 if route not in self._GET else 405, 'not found')
                if content_type.split(';')[0].strip().lower() != 'application/json':
                    raise HTTPError(415, 'POST bodies must be application/json')
                try:
                    data = json.loads(body.decode('utf-8')) if body else {}
                except (UnicodeDecodeError, ValueError) as exc:
                    raise HTTPError(400, f'the body is not JSON: {exc}') from None
                return handler(self, query, data)
            raise HTTPError(405, f'method {method[:10]} not allowed')
        except HTTPError as exc:
            return self._json({'error': str(exc)}, exc.status)
        except ValueError as exc:  # e.g. parse_qs: too many fields
            return self._json({'error': str(exc)[:500]}, 400)

    @staticmethod
    def _json(data, status=200):
        return status, 'application/json', json.dumps(data, allow_nan=False,
                                                      default=str).encode('utf-8')

    def _file(self, query):
        number = _int(query, 'f', low=0)
        if number >= len(self.files):
            raise HTTPError(404, f'no file {number} (the explorer serves {len(self.files)})')
        return self.files[number]

    def _sample(self, f, query):
        index = _int(query, 'i')
        n = len(f)
        if not -n <= index < n:
            raise HTTPError(404, f'no sample {index}: {f.name} has {n} samples')
        try:
            return index % n if n else index, f.get(index)
        except (DatasetError, ValueError) as exc:
            raise HTTPError(422, str(exc).replace(f'{f.path}: ', '')) from None

    # ------------------------------------------------------------ GET

    def _files(self, query):
        return self._json({'files': [
            {'id': f.number, 'name': f.name, 'path': str(f.path), 'samples': len(f),
             'set': None if f.meta is None else f.meta.name} for f in self.files]})

    def _overview(self, query):
        return self._json(self._file(query).overview())

    def _labels(self, query):
        f = self._file(query)
        return self._json({'labels': f.labels(full=_str(query, 'all', '0') == '1')})

    def _page(self, query):
        f = self._file(query)
        start = _int(query, 'start', 0, low=0)
        count = _int(query, 'count', 48, low=1)
        seed = _int(query, 'random', -1, low=0) if 'random' in query else None
        filtered = 'label' in query
        label = None
        if filtered:
            text = _str(query, 'label')
            try:
                label = json.loads(text)
            except ValueError:
                label = text
            if not isinstance(label, (bool, int, float, str)) and label is not None:
                raise HTTPError(400, 'a label filter is a number or a string')
        try:
            return self._json(f.page(start, count, label, filtered, seed))
        except IndexError as exc:
            raise HTTPError(404, str(exc)) from None

    def _find(self, query):
        f = self._file(query)
        key = _str(query, 'key')
        try:
            index = f.find(key)
        except KeyError:
            raise HTTPError(404, f'no sample has the key {key[:200]!r}') from None
        except DatasetError as exc:
            raise HTTPError(422, str(exc)) from None
        return self._json({'index': index, 'key': key})

    def _sample_view(self, query):
        f = self._file(query)
        index, sample = self._sample(f, query)
        fields = describe_sample(sample, f.meta, f.max_pixels)
        for d in _walk(fields):
            if d.get('kind') == 'labelmap' and 'error' not in d:
                try:
                    d['legend'] = legend(_value(sample, d['path']), f.meta, d['name'],
                                         f.max_pixels)
                except (RenderError, ValueError, KeyError) as exc:
                    d['error'] = str(exc)
        key = sample.get('key') if isinstance(sample, dict) else None
        label = sample.get('label') if isinstance(sample, dict) else None
        return self._json({'file': f.number, 'name': f.name, 'index': index, 'total': len(f),
                           'key': None if key is None else str(key)[:2000],
                           'label': label if isinstance(label, (int, str, float)) else None,
                           'class': f.class_name(label), 'fields': fields})

    def _image(self, query):
        f = self._file(query)
        view = _str(query, 'view')
        if view not in VIEWS:
            raise HTTPError(400, f'unknown view {view[:20]!r} (views: {", ".join(VIEWS)})')
        try:
            path = parse_path(_str(query, 'path')) if view != 'thumb' else None
            on = parse_path(query['on'][0]) if query.get('on') and query['on'][0] else None
            at = tuple(int(a) for a in _str(query, 'at').split(',')) \
                if query.get('at') and query['at'][0] else None
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        index = _int(query, 'i')
        key = (f.number, index, view, path, on, at)
        cached = self.cache.get(key)
        if cached is not None:
            return (200,) + cached
        _, sample = self._sample(f, query)
        try:
            item = render(sample, view, path, on, at, f.meta, f.max_pixels)
        except KeyError as exc:
            raise HTTPError(404, str(exc.args[0]) if exc.args else 'no such value') from None
        except (RenderError, ValueError) as exc:
            raise HTTPError(422, str(exc)) from None
        self.cache.put(key, item)
        return (200,) + item

    def _presets(self, query):
        from .preview import presets
        f = self._file(query)
        overview = f.overview()
        labels = [d['name'] for d in overview['fields']
                  if is_label_name(d['name']) and d['types'] in ('image', 'ndarray int64',
                                                                 'ndarray uint8', 'ndarray uint16')]
        return self._json({'presets': presets(overview['image_field'], labels)})

    _GET = {
        '/api/files': _files,
        '/api/overview': _overview,
        '/api/labels': _labels,
        '/api/page': _page,
        '/api/find': _find,
        '/api/sample': _sample_view,
        '/img': _image,
        '/api/presets': _presets,
    }

    # ------------------------------------------------------------ POST

    def _verify(self, query, data):
        f = self._file(query)
        result = {}
        with f.lock:
            for what, check in (('data', f.reader.verify_data), ('index', f.reader.verify_index)):
                try:
                    result[what] = bool(check())
                except FileNotFoundError:
                    result[what] = None
                    result['error'] = 'no .md5 file (datadings-index writes one)'
                except (DatasetError, OSError) as exc:
                    result[what] = False
                    result['error'] = str(exc)
        return self._json(result)

    def _stream(self, query, data):
        from .preview import preview
        f = self._file(query)
        if not isinstance(data, dict):
            raise HTTPError(400, 'the body is a JSON object {"config": {...}, "batches": N}')
        config = data.get('config', {})
        batches = data.get('batches', 1)
        if not isinstance(batches, int) or isinstance(batches, bool) or batches < 1:
            raise HTTPError(400, 'batches must be a positive integer')
        try:
            return self._json(preview(f.path, config, batches))
        except (ValueError, TypeError, KeyError, DatasetError) as exc:
            raise HTTPError(400, str(exc).split('\n')[0]) from None

    _POST = {
        '/api/verify': _verify,
        '/api/stream': _stream,
    }


def _walk(fields):
    for d in fields:
        yield d
        items = d.get('items')
        if items:
            yield from _walk(items)


def _value(sample, dotted):
    from .model import value_at
    return value_at(sample, parse_path(dotted))


class _Handler(BaseHTTPRequestHandler):
    server_version = 'datadings-explore'
    sys_version = ''
    protocol_version = 'HTTP/1.1'
    # headers and body go out in two writes: without this, delayed ACKs
    # hold every answer on a kept-alive connection back by ~40 ms
    disable_nagle_algorithm = True

    def _answer(self, method):
        if not self.server.host_allowed(self.headers.get('Host', '')):
            status, ctype, body = 421, 'application/json', \
                b'{"error": "unknown Host: open the address the explorer printed"}'
        else:
            body = b''
            if method == 'POST':
                try:
                    length = int(self.headers.get('Content-Length') or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= _MAX_BODY:
                    self.send_error(413, 'body too large')
                    return
                body = self.rfile.read(length)
            status, ctype, body = self.server.explorer.handle(
                method, self.path, body, self.headers.get('Content-Type', ''))
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Content-Security-Policy', CSP)
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.send_header('X-Frame-Options', 'DENY')
        self.send_header('Referrer-Policy', 'no-referrer')
        self.send_header('Cache-Control', 'no-store' if ctype == 'application/json'
                         else 'private, max-age=300')
        self.end_headers()
        if method != 'HEAD':
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's names
        self._answer('GET')

    def do_HEAD(self):  # noqa: N802
        self._answer('HEAD')

    def do_POST(self):  # noqa: N802
        self._answer('POST')

    def _refuse(self):
        self.send_response(405)
        self.send_header('Content-Length', '0')
        self.send_header('Allow', 'GET, HEAD, POST')
        self.end_headers()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    def log_message(self, format, *args):  # noqa: A002 - http.server's name
        if self.server.verbose:
            super().log_message(format, *args)


class ExplorerServer(ThreadingHTTPServer):
    """
    The HTTP server of an :py:class:`Explorer`.

    Parameters:
        address: ``(host, port)``; port 0 picks a free port
        explorer: the :py:class:`Explorer`
        verbose: log every request on stderr

    Attributes:
        url: the address to open in a browser
    """
    daemon_threads = True

    def __init__(self, address, explorer, verbose=False):
        self.explorer = explorer
        self.verbose = verbose
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        shown = host if ':' not in host else f'[{host}]'
        if host in ('0.0.0.0', '::'):
            shown = '127.0.0.1' if host == '0.0.0.0' else '[::1]'
        self.url = f'http://{shown}:{port}/'
        self._any_host = host in ('0.0.0.0', '::')
        self._hosts = {f'{h}:{port}' for h in (shown, 'localhost', '127.0.0.1', '[::1]')}

    def handle_error(self, request, client_address):
        import sys
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the browser went away (a new page, a closed tab)
        super().handle_error(request, client_address)

    def host_allowed(self, host):
        """True if a request's ``Host`` header names this server."""
        return self._any_host or host.lower() in self._hosts

    def start(self):
        """Serve in a daemon thread; returns the thread (for tests and notebooks)."""
        thread = threading.Thread(target=self.serve_forever, name='datadings-explore',
                                  daemon=True)
        thread.start()
        return thread


def make_server(paths, host='127.0.0.1', port=0, set_name=None, max_pixels=None,
                cache_bytes=DEFAULT_CACHE_BYTES, verbose=False):
    """
    An explorer server for ``paths``, bound but not yet serving (call
    ``serve_forever()`` or :py:meth:`ExplorerServer.start`).

    Parameters:
        paths: dataset files
        host: address to bind (default: this machine only)
        port: port (0: a free one)
        set_name, max_pixels, cache_bytes: see :py:class:`Explorer`
        verbose: log requests

    Returns:
        :py:class:`ExplorerServer`

    Raises:
        OSError: the address cannot be bound
        FileNotFoundError, DatasetError, UserError, ValueError: see :py:class:`Explorer`
    """
    explorer = Explorer(paths, set_name, max_pixels, cache_bytes)
    try:
        return ExplorerServer((host, port), explorer, verbose)
    except BaseException:
        explorer.close()
        raise
