"""
Download and verify the source files of datasets.

Dataset writers describe their source files in a dict like this::

    FILES = {
        'train': {
            'path': 'trainSet.zip',
            'url': 'http://saliency.mit.edu/trainSet.zip',
            'md5': '56ad5c77e6c8f72ed9ef2901628d6e48',
        },
        'devkit': {
            'path': 'devkit.tar.gz',
            'url': None,  # registration required: never downloaded
            'md5': '...',
            'help': 'https://example.org/register (log in, then "Downloads")',
        },
    }

and call :py:func:`prepare_indir` with it. Downloads use the standard
library only (``urllib``):

- a byte progress bar on stderr;
- the file is written as ``NAME.part`` next to its final name; an
  interrupted download resumes from there with an HTTP ``Range`` request
  (servers that ignore ``Range`` are handled: the download restarts);
- failures that may pass are retried (:py:data:`RETRIES` times, with
  :py:data:`TIMEOUT` seconds per connect/read): timeouts, connections
  that were reset or closed early, HTTP 408, 425, 429 and 5xx (except 501
  and 505); an attempt that made progress does not count as a failure.
  Failures that retrying cannot fix stop at once with a message naming
  the host: a host name that cannot be resolved (DNS), a refused
  connection, an unreachable network, a TLS certificate that cannot be
  verified, other HTTP errors (404, 403, ...), a missing ``file://`` file;
- the MD5 hash is checked *before* the file gets its final name: a
  mismatch is an error (exit status 1 in the shell tools) and the bad file
  is removed, so nothing stays under the final name;
- the environment variable ``DATADINGS_LIKE_MIRROR`` replaces every
  official address: a file ``NAME`` is fetched from ``$DATADINGS_LIKE_MIRROR/NAME``.
  The mirror may be an ``http(s)://``, ``ftp://`` or ``file://`` URL or a
  plain local directory, for mirrors, caches and air-gapped sites;
- files whose ``url`` is missing or ``None`` (registration required) are
  never downloaded: :py:func:`prepare_indir` says where to get them (the
  optional ``help`` or ``source`` entry) and where to put them.

Proxies are taken from the usual ``http_proxy``/``https_proxy``/``no_proxy``
environment variables.
"""
from pathlib import Path
import errno
import ftplib
import hashlib
import http.client
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from . import DOWNLOAD_BAR
from . import hash_md5hex
from . import make_printer
from .cli import UserError

__all__ = (
    'DownloadError',
    'MIRROR_VARIABLE',
    'RETRIES',
    'RETRY_DELAY',
    'TIMEOUT',
    'VerificationError',
    'check_registration',
    'download',
    'download_files_if_not_found',
    'download_if_not_found',
    'locate_files',
    'mirror_url',
    'prepare_indir',
    'verify_file',
    'verify_files',
)

#: Environment variable naming a mirror: ``$DATADINGS_LIKE_MIRROR/<file name>``.
MIRROR_VARIABLE = 'DATADINGS_LIKE_MIRROR'
#: How often a failed connection or read is retried.
RETRIES = 5
#: Seconds to wait for a connection or for the next bytes of a response.
TIMEOUT = 60.0
#: Seconds to wait before the first retry; doubles with every failure (max 30).
RETRY_DELAY = 1.0

_CHUNK = 256 * 1024
_USER_AGENT = 'datadings_like (python urllib)'
# HTTP status codes worth trying again
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r'bytes\s+(\d+)-(\d+)/(\d+|\*)', re.IGNORECASE)
_BAR = DOWNLOAD_BAR
_BAR_UNKNOWN = '{desc} {n_fmt} {elapsed}, {rate_fmt}'


class DownloadError(UserError):
    """A download failed for good (after retries, or for a reason retrying
    cannot fix, e.g. HTTP 404 or a wrong MD5 hash)."""


class VerificationError(UserError):
    """A source file does not have the expected MD5 hash."""


class _Retry(Exception):
    """Internal: this attempt failed, but another one may succeed."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class _Fatal(Exception):
    """Internal: this attempt failed, and another one would fail too."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _say(quiet, *args):
    if not quiet:
        print(*args, file=sys.stderr, flush=True)


def mirror_url(url, filename):
    """
    Return where to fetch ``filename`` from: ``$DATADINGS_LIKE_MIRROR/filename``
    if the mirror variable is set (and not empty), else ``url``.

    A mirror without a URL scheme is a local directory.

    Parameters:
        url: the official address
        filename: name of the file (no directories)

    Returns:
        URL to download from
    """
    mirror = os.environ.get(MIRROR_VARIABLE, '').strip()
    if not mirror:
        return url
    if not re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', mirror):
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return mirror.rstrip('/') + '/' + urllib.parse.quote(filename)


def _hash_file(path, md5):
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return
            md5.update(chunk)


# connection failures that a later attempt may not see (resets, timeouts)
_TRANSIENT = (TimeoutError, socket.timeout, ConnectionResetError, ConnectionAbortedError,
              BrokenPipeError, http.client.IncompleteRead, ssl.SSLEOFError,
              ssl.SSLZeroReturnError, EOFError, ftplib.error_temp)
# errno values of connection attempts that a retry will not fix soon
_HOPELESS_ERRNO = {
    errno.ECONNREFUSED: 'connection refused (no server is listening there)',
    errno.ENETUNREACH: 'network is unreachable (are you offline?)',
    errno.EHOSTUNREACH: 'no route to host',
}


def _host_of(request):
    """The host a request connected to (its proxy, if it went through one),
    for messages; None for ``file://`` URLs."""
    if not request.host:
        return None
    # an https request through a proxy tunnels: its selector stays the path
    proxy = request.has_proxy() or bool(getattr(request, '_tunnel_host', None))
    return ('proxy ' if proxy else '') + f'host {request.host}'


def _failure(exc, request):
    """
    Classify an exception of opening a URL: :py:class:`_Retry` if another
    attempt may succeed, else :py:class:`_Fatal`; both name the host.
    """
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    where = _host_of(request)
    if isinstance(reason, socket.gaierror):
        text = reason.strerror or str(reason)
        return _Fatal(f'cannot resolve {where or "the host name"} ({text}); check the '
                      'address and the network connection, or set '
                      f'{MIRROR_VARIABLE} to a mirror you can reach')
    if isinstance(reason, ssl.SSLCertVerificationError):
        text = reason.verify_message or reason.reason or str(reason)
        return _Fatal(f'the TLS certificate of {where} cannot be verified ({text})')
    if isinstance(reason, BaseException):
        text = f'{where}: {_describe(reason)}' if where else _describe(reason)
    else:
        text = str(reason)  # about the URL, e.g. "unknown url type"
    if isinstance(reason, _TRANSIENT):
        return _Retry(text)
    if isinstance(reason, OSError) and reason.errno in _HOPELESS_ERRNO:
        return _Fatal(f'{where}: {_HOPELESS_ERRNO[reason.errno]}' if where else text)
    return _Fatal(text)


def _describe(exc):
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return 'timed out'
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f': {exc.filename}' if exc.filename else '')
    return str(exc) or type(exc).__name__


def _open(url, start, timeout):
    headers = {'User-Agent': _USER_AGENT, 'Accept-Encoding': 'identity'}
    if start:
        headers['Range'] = f'bytes={start}-'
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416:
            raise
        if exc.code in _RETRY_STATUS or (500 <= exc.code < 600 and exc.code not in (501, 505)):
            raise _Retry(f'HTTP {exc.code} {exc.reason}') from None
        raise _Fatal(f'HTTP {exc.code} {exc.reason}') from None
    except (OSError, http.client.HTTPException, EOFError) as exc:
        # URLError is an OSError; HTTPException: a broken response
        failure = _failure(exc, request)
        raise failure from None


def _response_range(response, start):
    """Return (offset, total) of a response; offset 0 means "from the start"."""
    status = getattr(response, 'status', None) or 200
    length = response.headers.get('Content-Length')
    length = int(length) if length and length.isdigit() else None
    if status == 206 and start:
        match = _CONTENT_RANGE.match(response.headers.get('Content-Range', ''))
        if not match or int(match.group(1)) != start:
            return None, None  # not the range we asked for
        total = match.group(3)
        return start, int(total) if total != '*' else (
            start + length if length is not None else None)
    if status not in (200, 206):
        raise _Retry(f'unexpected HTTP status {status}')
    return 0, length


def _note_progress(state, size):
    if size > state['best']:
        state['best'] = size
        state['progress'] = True


def _attempt(url, part, md5, state, timeout, chunk_size, quiet, desc):
    """One connection: continue ``part`` as far as possible.
    Returns True when the file is complete."""
    start = part.stat().st_size if part.exists() else 0
    if state['hashed'] != start:
        # hash what is on disk (a part file from an earlier run)
        state['md5'] = hashlib.md5()
        if start:
            _hash_file(part, state['md5'])
        state['hashed'] = start
    try:
        response = _open(url, start, timeout)
    except urllib.error.HTTPError:  # 416: range not satisfiable
        if start and md5 is not None:
            # the part file may be complete already (the hash will tell)
            state['complete_guess'] = True
            return True
        if start:
            # nothing can tell whether the part file is right: start over
            _say(quiet, f'{desc}: server cannot resume; starting over')
            part.unlink()
            state['hashed'] = -1
            state['best'] = 0
        raise _Retry('HTTP 416 range not satisfiable') from None
    with response:
        offset, total = _response_range(response, start)
        if offset is None:
            _say(quiet, f'{desc}: server sent a different range; starting over')
            part.unlink()
            state['hashed'] = -1
            state['best'] = 0
            raise _Retry('unexpected Content-Range') from None
        if start and offset == 0:
            _say(quiet, f'{desc}: server does not support resuming; starting over')
            state['md5'] = hashlib.md5()
            state['hashed'] = 0
            start = 0
        elif start:
            state['resumed'] = True
        printer = make_printer(
            bar_format=_BAR if total else _BAR_UNKNOWN,
            total=total, initial=start, desc=desc, disable=quiet,
            unit='B', unit_scale=True, unit_divisor=1024,
        )
        md5_state = state['md5']
        size = start
        with printer, open(part, 'ab' if start else 'wb') as f:
            while True:
                try:
                    chunk = response.read(chunk_size)
                except http.client.IncompleteRead as exc:
                    chunk = exc.partial
                    if chunk:
                        f.write(chunk)
                        md5_state.update(chunk)
                        size += len(chunk)
                        state['hashed'] = size
                    _note_progress(state, size)
                    raise _Retry('connection closed early') from None
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    _note_progress(state, size)
                    raise _Retry(str(exc) or type(exc).__name__) from None
                if not chunk:
                    break
                f.write(chunk)
                md5_state.update(chunk)
                size += len(chunk)
                state['hashed'] = size
                printer.update(len(chunk))
        _note_progress(state, size)
        if total is not None and size < total:
            raise _Retry(f'connection closed after {size} of {total} bytes')
        if total is not None and size > total:
            part.unlink()
            state['hashed'] = -1
            raise _Retry(f'got {size} bytes, but expected {total}')
        return True


def download(url, path, md5=None, quiet=False, retries=None, timeout=None,
             chunk_size=_CHUNK):
    """
    Download ``url`` to ``path`` (via ``path.part``), resuming a partial
    download and retrying failures that may pass (timeouts, connection
    resets, HTTP 408, 425, 429, 5xx); failures that a retry cannot fix
    (an unknown host name, a refused connection, a TLS certificate that
    cannot be verified, other HTTP errors) fail at once. If ``md5`` is
    given, the file is checked before it gets its final name; a mismatch
    removes it and raises :py:class:`DownloadError`.

    The mirror variable is *not* applied here; see :py:func:`mirror_url`.

    Parameters:
        url: what to download (``http(s)://``, ``ftp://``, ``file://``)
        path: final file name
        md5: expected MD5 hash (hex), or None to skip the check
        quiet: no messages, no progress bar
        retries: failed attempts allowed (default: :py:data:`RETRIES`)
        timeout: seconds per connect/read (default: :py:data:`TIMEOUT`)
        chunk_size: bytes read at once

    Returns:
        ``path`` as :py:class:`pathlib.Path`

    Raises:
        DownloadError: the download failed (the message names the host and
            what happened) or the MD5 hash is wrong
    """
    path = Path(path)
    retries = RETRIES if retries is None else retries
    timeout = TIMEOUT if timeout is None else timeout
    part = path.with_name(path.name + '.part')
    path.parent.mkdir(parents=True, exist_ok=True)
    desc = path.name
    # best: the largest size the part file reached; only growing beyond it
    # is progress (so a server that always drops the connection and
    # ignores Range cannot keep us busy forever)
    state = {'md5': hashlib.md5(), 'hashed': 0 if not part.exists() else -1,
             'resumed': False, 'progress': False, 'complete_guess': False,
             'best': part.stat().st_size if part.exists() else 0}
    fresh_start_done = False
    failures = 0
    _say(quiet, f'downloading {path.name} from {url}')
    while True:
        state['progress'] = False
        state['complete_guess'] = False
        try:
            _attempt(url, part, md5, state, timeout, chunk_size, quiet, desc)
        except _Fatal as exc:
            where = f'; what was downloaded is kept in {part}' \
                if part.exists() and part.stat().st_size else ''
            raise DownloadError(f'could not download {path.name} from {url}: '
                                f'{exc.reason}{where}') from None
        except _Retry as exc:
            if state['progress']:
                failures = 0
            failures += 1
            if failures > retries:
                raise DownloadError(
                    f'could not download {path.name} from {url}: {exc.reason} '
                    f'(gave up after {failures} attempts; run again to resume, '
                    f'or put the file at {path} yourself)'
                ) from None
            delay = min(RETRY_DELAY * 2 ** (failures - 1), 30.0)
            _say(quiet, f'{desc}: {exc.reason}; retrying in {delay:g} s '
                        f'({failures}/{retries})')
            time.sleep(delay)
            continue
        if md5 is not None:
            if state['complete_guess'] or state['hashed'] != part.stat().st_size:
                state['md5'] = hashlib.md5()
                _hash_file(part, state['md5'])
            got = state['md5'].hexdigest()
            if got != md5.lower():
                part.unlink()
                resumed = state['resumed'] or state['complete_guess']
                if resumed and not fresh_start_done:
                    # the part file may have come from another version of
                    # the file: try once more from scratch
                    _say(quiet, f'{desc}: MD5 hash does not match after resuming; '
                                'downloading again from the start')
                    fresh_start_done = True
                    state.update(md5=hashlib.md5(), hashed=0, resumed=False, best=0)
                    continue
                raise DownloadError(
                    f'{path.name} downloaded from {url} has the wrong MD5 hash '
                    f'(expected {md5}, got {got}); the file was deleted. '
                    'The source may have changed or be damaged; try again later, '
                    f'or check the URL or the {MIRROR_VARIABLE} mirror'
                )
        os.replace(part, path)
        return path


def download_if_not_found(url, path, md5=None, quiet=False):
    """
    Check if ``path`` is a file, otherwise download from ``url`` to ``path``
    (or from the mirror, see :py:data:`MIRROR_VARIABLE`).

    Parameters:
        url: official address of the file
        path: where the file belongs
        md5: if given, the downloaded file must have this MD5 hash
        quiet: no messages, no progress bar

    Returns:
        True if the file was downloaded, False if it was there already.

    Raises:
        DownloadError: see :py:func:`download`
    """
    path = Path(path)
    if path.exists():
        return False
    download(mirror_url(url, path.name), path, md5=md5, quiet=quiet)
    return True


def download_files_if_not_found(files, indir, verify=True, quiet=False):
    """
    Run :py:func:`download_if_not_found` for multiple files.
    Files without a ``url`` are skipped.

    Parameters:
        files: dict of file descriptions (see :py:func:`prepare_indir`)
        indir: directory the relative paths are located in
        verify: check the MD5 hash (if given) of downloaded files
        quiet: no messages, no progress bars

    Returns:
        list of the names (keys of ``files``) that were downloaded,
        and so verified already if ``verify`` is true.

    See also:
        :py:func:`datadings_like.tools.prepare_indir`
    """
    downloaded = []
    for name, meta in files.items():
        url = meta.get('url')
        if not url:
            continue
        md5 = meta.get('md5') if verify else None
        if download_if_not_found(url, os.path.join(indir, meta['path']), md5=md5, quiet=quiet):
            downloaded.append(name)
    return downloaded


def verify_file(meta, indir, quiet=False):
    """
    Check the MD5 hash of one file (nothing to check without ``'md5'``).

    Parameters:
        meta: file description with ``'path'`` and ``'md5'``
        indir: directory the relative path is located in
        quiet: no messages, no progress bar

    Raises:
        FileNotFoundError: the file is missing
        VerificationError: the hash differs
    """
    expected = meta.get('md5')
    if not expected:
        return
    path = Path(indir, meta['path'])
    if not path.is_file():
        raise FileNotFoundError(f'{path}: source file not found')
    _say(quiet, f'verifying {path.name}')
    got = hash_md5hex(path, progress=not quiet)
    if got != expected.lower():
        fix = 'delete it to download it again' if meta.get('url') else \
            'replace it with an undamaged copy'
        raise VerificationError(
            f'{path} has the wrong MD5 hash (expected {expected}, got {got}); '
            f'{fix}, or use -s/--skip-verification if you trust it'
        )


def verify_files(files, indir, quiet=False):
    """
    Verify the integrity of the given files.

    See also:
        :py:func:`datadings_like.tools.prepare_indir`
    """
    for meta in files.values():
        verify_file(meta, indir, quiet=quiet)


def locate_files(files, indir):
    """
    Returns a copy of ``files`` where paths are replaced with
    concrete paths located in ``indir``.

    See also:
        :py:func:`datadings_like.tools.prepare_indir`
    """
    return {name: dict(meta, path=os.path.join(indir, meta['path']))
            for name, meta in files.items()}


def check_registration(files, indir):
    """
    Make sure files that cannot be downloaded (no ``url``) are present.

    Raises:
        UserError: listing each missing file, why it is not downloaded (its
            ``reason`` entry, default "registration required"), where to get
            it (its ``help`` or ``source`` entry) and where to put it
    """
    missing = []
    for meta in files.values():
        if meta.get('url'):
            continue
        path = Path(indir, meta['path'])
        if path.exists():
            continue
        where = meta.get('help') or meta.get('source') or \
            "the dataset's website (see the writer's help, -h)"
        reason = meta.get('reason') or 'registration required'
        missing.append(
            f'{path.name} is needed, but cannot be downloaded automatically '
            f'({reason}): get it from {where} and put it at '
            f'{path.absolute()}'
        )
    if missing:
        raise UserError('\n  '.join(missing))


def prepare_indir(files, args):
    """
    Prepare a directory for dataset creation.
    ``files`` specifies with files need be downloaded and/or
    integrity checked.
    It is a dict of file descriptions like these::

        files = {
            'train': {
                'path': 'dataset.zip',
                'url': 'http://cool.dataset/dataset.zip',
                'md5': '56ad5c77e6c8f72ed9ef2901628d6e48',
            }
        }

    A file without ``url`` (or with ``url: None``) needs registration and
    is never downloaded; if it is missing, :py:class:`UserError` says where
    to get it (the optional ``help`` or ``source`` entry) and where to put it.

    Once downloads and/or verification have finished, the relative
    paths are replaced with concrete paths in ``args.indir``.

    Parameters:
        files: Dict of file descriptions.
        args: Parsed argparse arguments object with ``indir``
              and ``skip_verification`` arguments (``quiet`` is
              honoured if present).

    Returns:
        Files with paths located in args.indir.

    Raises:
        UserError: missing registration-only file, failed download
            (:py:class:`DownloadError`), wrong MD5 hash
            (:py:class:`VerificationError`)
    """
    indir = args.indir
    quiet = getattr(args, 'quiet', False)
    verify = not getattr(args, 'skip_verification', False)
    check_registration(files, indir)
    downloaded = download_files_if_not_found(files, indir, verify=verify, quiet=quiet)
    if verify:
        verify_files({k: m for k, m in files.items() if k not in downloaded},
                     indir, quiet=quiet)
    return locate_files(files, indir)
