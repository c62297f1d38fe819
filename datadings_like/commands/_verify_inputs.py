"""
The copying tools (``datadings-shuffle``, ``-merge``, ``-sample``,
``-split``) check their inputs against the inputs' own ``.md5`` files, so
that a damaged input never turns into an output with a fresh, matching
``.md5``.

- The ``.md5`` file is read and the index files it lists are hashed before
  anything is written (they are small); a damaged ``.md5`` or index file
  stops the tool at once.
- The data file is hashed as its bytes pass through where the tool reads
  it front to back (:py:meth:`InputVerifier.iter`), otherwise in a
  background thread while the tool copies (``background=True``).
- :py:meth:`InputVerifier.finish` compares; the tools call it before their
  writers commit, so a mismatch leaves no output under the final name.

An input without a ``.md5`` file (or whose ``.md5`` lists no hash for it,
e.g. after a rename) cannot be verified: a warning says so once and the
input is copied as it is. ``--no-verify`` skips all of this.
"""
from itertools import chain
from pathlib import Path
import hashlib
import re
import sys
import threading

import numpy as np

from ..remote import redact
from ..tools import hash_md5hex
from ..tools import load_md5file
from ..tools import make_printer
from ..tools import path_append
from ..tools.cli import UserError

__all__ = ('InputVerifier', 'argument_no_verify')

_READ_SIZE = 1 << 20
_BLOCK_BYTES = 4 << 20  # pass-through: hash after every ~4 MiB of samples
_QUIET_WAIT = 0.5  # seconds: waiting for the hashing longer than this shows a bar
_HINT = '--no-verify copies it anyway'


def argument_no_verify(parser):
    """Add ``--no-verify`` (stored as ``verify=False``) to a copying tool's parser."""
    parser.add_argument(
        '--no-verify', dest='verify', action='store_false',
        help='Do not check the inputs against their .md5 files (by default an '
             'input that does not match stops the tool before anything is written).',
    )


class _Input:
    """One input: what its .md5 file expects, and the hash of its data so far."""

    def __init__(self, reader):
        self.reader = reader
        if isinstance(reader.path, str):
            # a remote reader (reader.path is the URL): its sidecars were
            # fetched to the directory of reader._path; the data is remote.
            # Messages name the URL, not the local copies
            self.path = path = reader._path
            self.size = reader._size
            self.shown = redact(reader.path)
        else:
            self.path = path = Path(reader.path)
            self.size = path.stat().st_size
            self.shown = str(path)
        shown = self.shown
        self.md5_path = md5_path = path_append(path, '.md5')
        self.expected = None
        self.digest = hashlib.md5()
        self.pos = 0          # bytes hashed so far
        if not md5_path.exists():
            _warn(f'{shown}: no {md5_path.name} file, so the input cannot be '
                  'verified; it is copied as it is')
            return
        try:
            hashes = load_md5file(md5_path)
        except (ValueError, OSError) as exc:  # UnicodeDecodeError is a ValueError
            raise UserError(f'{shown}.md5: damaged ({_reason(exc, md5_path)}), so {path.name} '
                            f'cannot be verified; {_HINT}') from None
        name = path.name
        if name not in hashes:
            _warn(f'{shown}: {md5_path.name} lists no MD5 for {name} (renamed?), so '
                  'the input cannot be verified; it is copied as it is')
            return
        # the index files (small): at once, before anything is written
        for entry, expected in sorted(hashes.items()):
            if not entry.startswith(name + '.') or '/' in entry:
                continue
            sidecar = path.with_name(entry)
            if sidecar.exists() and hash_md5hex(sidecar) != expected:
                raise UserError(f'{shown}: {entry} does not match its MD5 in '
                                f'{md5_path.name} (damaged, or changed since it was '
                                f'written); nothing was written; {_HINT}')
        self.expected = hashes[name]

    def feed_to(self, end):
        """Hash the data file's bytes up to byte ``end`` (from the reader's map)."""
        if end > self.pos:
            self.digest.update(self.reader._view[self.pos:end])
            self.pos = end

    def check(self):
        if self.digest.hexdigest() != self.expected:
            raise UserError(f'{self.shown}: does not match its MD5 in {self.md5_path.name} '
                            f'(damaged, or changed since it was written); nothing was '
                            f'written; {_HINT}')


def _reason(exc, path):
    # the message of load_md5file names the file again: once is enough
    text = str(exc)
    for prefix in (f'{path}:', f'{path}'):
        if text.startswith(prefix):
            text = re.sub(r'^(\d+):\s*', r'line \1: ', text[len(prefix):].lstrip(' '))
            break
    return text if len(text) <= 120 else text[:117] + '...'


def _warn(message):
    print(f'warning: {message}', file=sys.stderr)


class _Hasher(threading.Thread):
    """Hashes the data files of some inputs, one after the other."""

    def __init__(self, inputs):
        super().__init__(name='datadings-verify-inputs', daemon=True)
        self.inputs = inputs
        self.error = None
        self.done = 0  # bytes hashed, all inputs together
        self._stop_event = threading.Event()

    def run(self):
        buf = bytearray(_READ_SIZE)
        view = memoryview(buf)
        try:
            for item in self.inputs:
                if isinstance(item.reader.path, str):
                    # a remote input (URL): its own stream of large ranges
                    remote = item.reader.remote
                    while not self._stop_event.is_set() and item.pos < item.size:
                        data = remote.read_range(item.pos, min(item.pos + (8 << 20), item.size))
                        item.digest.update(data)
                        item.pos += len(data)
                        self.done += len(data)
                    continue
                # md5 and file reads release the GIL: this runs beside the copying
                with open(item.path, 'rb', buffering=0) as f:
                    while not self._stop_event.is_set():
                        n = f.readinto(buf)
                        if not n:
                            break
                        item.digest.update(view[:n])
                        item.pos += n
                        self.done += n
        except BaseException as exc:  # handed to finish()
            self.error = exc

    def stop(self):
        self._stop_event.set()


class InputVerifier:
    """
    Checks the inputs of a copying tool against their ``.md5`` files
    (see the module description). Use it as a context manager around the
    copying, and call :py:meth:`finish` before the output is committed::

        with InputVerifier([reader], verify=True, background=True) as inputs:
            with RawWriter(outfile) as writer:
                for key, data in shuffled(reader):
                    writer.write(key, data)
                inputs.finish()

    Parameters:
        readers: the inputs, as :py:class:`~datadings_like.reader.MsgpackReader`
        verify: False turns all checks off (``--no-verify``)
        background: hash the data files in a background thread (for tools
            that read their input out of order); otherwise the tool reads
            through :py:meth:`iter`, which hashes as the bytes pass

    Raises:
        UserError: a ``.md5`` file is damaged or an index file does not
            match it
    """

    def __init__(self, readers, verify=True, background=False):
        self._readers = list(readers)
        self._inputs = [_Input(r) for r in self._readers] if verify else []
        self._checked = [item for item in self._inputs if item.expected is not None]
        self._by_reader = {id(item.reader): item for item in self._checked}
        self._hasher = None
        if background and self._checked:
            self._hasher = _Hasher(self._checked)
            self._hasher.start()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()

    def close(self):
        """Stop hashing (if the tool ends early); does not check anything."""
        if self._hasher is not None:
            self._hasher.stop()
            self._hasher.join()

    def iter(self, index, start=0, stop=None):
        """
        Iterator over ``(key, raw sample)`` of input ``index`` from
        ``start`` to ``stop``, in order, that hashes the data file as the
        bytes pass: in blocks of a few MiB, each hashed just before its
        samples are copied (no work per sample). Bytes that no iterator
        passes are hashed by :py:meth:`finish`.

        Parameters:
            index: which input
            start: first sample
            stop: end of the range (default: all samples)
        """
        reader = self._readers[index]
        stop = len(reader) if stop is None else stop
        item = self._by_reader.get(id(reader)) if self._hasher is None else None
        if item is None:
            return reader.iter(start=start, stop=stop, raw=True, yield_key=True)
        offsets = reader._offsets

        def blocks():
            a = start
            while a < stop:
                b = int(np.searchsorted(offsets, offsets[a] + _BLOCK_BYTES, side='right')) - 1
                b = min(max(b, a + 1), stop)
                yield a, b
                a = b

        def block(bounds):
            a, b = bounds
            item.feed_to(int(offsets[b]))
            return reader.slice(a, b, yield_key=True, raw=True)
        return chain.from_iterable(map(block, blocks()))

    def finish(self, progress=False):
        """
        Finish hashing and compare with the ``.md5`` files. Call it after
        copying, before the output is committed.

        Parameters:
            progress: show a progress bar while it waits for the hashing

        Raises:
            UserError: an input does not match its ``.md5``; the message
                names the input
        """
        hasher = self._hasher
        if hasher is not None:
            hasher.join(_QUIET_WAIT)  # a short wait shows no bar
            if hasher.is_alive():
                total = sum(item.size for item in self._checked)
                with make_printer(total=total, desc='verifying inputs', disable=not progress,
                                  unit='B', unit_scale=True, unit_divisor=1024,
                                  leave=False) as printer:
                    while hasher.is_alive():
                        hasher.join(0.1)
                        printer.update(hasher.done - printer.n)
            hasher.join()
            if hasher.error is not None:
                raise hasher.error
        else:
            for item in self._checked:
                item.feed_to(item.size)  # what the tool did not read
        for item in self._checked:
            item.check()
