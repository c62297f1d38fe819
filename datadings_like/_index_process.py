"""
Key hashes and Bloom filter of a dataset that is being written, made by a
second process while the writer packs samples.

Hashing every key (salted blake2s) and filling the Bloom filter cost about
as much as a third of writing small samples, and neither lets go of the
GIL, so a thread cannot take them off the writer's hot path. A
:py:class:`BackgroundIndex` starts ``python -m datadings_like._index_process``
once a dataset has enough keys to pay for it; the writer hands it the keys
in batches as it flushes samples. The child hashes each batch with the salt
of :py:func:`~datadings_like.index.hash_keys`' first attempt as it arrives,
and at the end (when the number of keys is known) writes the key hashes and
the Bloom filter files, the same bytes :py:func:`~datadings_like.index.write_key_hashes`
and :py:func:`~datadings_like.index.write_filter` write. A collision falls
back to :py:func:`~datadings_like.index.hash_keys` in the child.

Whatever goes wrong with the child (it cannot start, dies, or replies
something unexpected) only means that the writer makes both files itself,
as without it. The child ignores Ctrl-C, runs in its own session, and ends
when its input closes, so it never outlives the writer.
"""
import os
import signal
import subprocess
import sys
import threading

import msgpack

__all__ = ('BackgroundIndex', 'background_index_possible')

# the child reads the writer's messages (msgpack: lists of keys, then one
# final dict) in pieces of at most this many bytes
_READ_SIZE = 1 << 20


def background_index_possible() -> bool:
    """True where a second process can work beside the writer: an
    interpreter to start and more than one CPU to run it on."""
    if not sys.executable:
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus > 1


class BackgroundIndex:
    """
    The parent's side: a child process that hashes keys while they are
    written. Keys are queued to a feeder thread, which writes them to the
    child's input, so the writer never waits for the pipe.

    Raises:
        OSError: the child cannot be started
    """

    def __init__(self):
        # the child imports this package from where the parent found it
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(filter(None, (root, env.get('PYTHONPATH'))))
        self._proc = subprocess.Popen(
            [sys.executable, '-m', __name__],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
        self._lock = threading.Condition()
        self._pending = []
        self._final = None
        self._stop = False
        self._failed = False
        self.sent = 0
        self._feeder = threading.Thread(target=self._feed, name='datadings-index-feeder',
                                        daemon=True)
        self._feeder.start()

    def feed(self, keys):
        """Hand the next keys (a list of str, in sample order) to the child."""
        with self._lock:
            self._pending.append(keys)
            self.sent += len(keys)
            self._lock.notify()

    def _feed(self):
        stdin = self._proc.stdin
        pack = msgpack.Packer(use_bin_type=True).pack
        try:
            while True:
                with self._lock:
                    while not (self._pending or self._final or self._stop):
                        self._lock.wait()
                    if self._stop:
                        return
                    batches, self._pending = self._pending, []
                    final = self._final
                for keys in batches:
                    stdin.write(pack(keys))
                if final is not None:
                    stdin.write(pack(final))
                    stdin.close()
                    return
        except (OSError, ValueError):
            self._failed = True  # the child is gone; the writer makes the files

    def finish(self, hashes_path, filter_path, filter_keys):
        """
        Ask for the key hashes file of all keys fed so far and, in
        ``filter_path``, the Bloom filter of the first ``filter_keys`` of
        them; returns at once (see :py:meth:`result`).
        """
        with self._lock:
            self._final = {'count': self.sent, 'hashes': os.fspath(hashes_path),
                           'filter': os.fspath(filter_path), 'filter_keys': filter_keys}
            self._lock.notify()

    def result(self):
        """
        Wait for the child. Returns True if it wrote both files for exactly
        the keys that were fed, False if the caller must make them.
        """
        self._feeder.join()
        reply = None
        if not self._failed:
            try:
                data = self._proc.stdout.read()
                reply = msgpack.unpackb(data, raw=False) if data else None
            except (OSError, ValueError):
                reply = None
        self._reap()
        return (isinstance(reply, dict) and reply.get('ok') is True
                and reply.get('count') == self.sent and self._proc.returncode == 0)

    def kill(self):
        """Stop the child and discard its work (the writer was aborted)."""
        with self._lock:
            self._stop = True
            self._pending = []
            self._lock.notify()
        if self._proc.poll() is None:
            self._proc.kill()
        self._feeder.join()
        self._reap()

    def _reap(self):
        proc = self._proc
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        proc.wait()


# ---------------------------------------------------------------- child

def finish_index(keys, first_hashes, hashes_path, filter_path, filter_keys):
    """
    Write the key hashes file of ``keys`` and, to ``filter_path``, the Bloom
    filter of their first ``filter_keys`` keys, with the capacity of all of
    them (the writer adds the others and merges). ``first_hashes`` are the
    hashes with the salt of the first attempt, used unless they collide.
    """
    from .index import _bloom_filter
    from .index import _hash_keys
    from .index import _write_filter_file
    from .index import _write_key_hashes_file
    salt, hashes = _hash_keys(keys, first=first_hashes)
    _write_key_hashes_file(salt, hashes, hashes_path)
    _write_filter_file(_bloom_filter(keys[:filter_keys], len(keys)), filter_path)


def _serve(read_fd, out):
    """Read key batches until the final message, then write the files."""
    import hashlib

    import numpy as np

    from .index import _key_hash_salt
    new = hashlib.blake2s(salt=_key_hash_salt(0)).copy
    keys = []
    digests = []
    append = digests.append
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 31)
    final = None
    while final is None:
        data = os.read(read_fd, _READ_SIZE)
        if not data:
            return  # the writer is gone or gave up
        unpacker.feed(data)
        for message in unpacker:
            if type(message) is not list:
                final = message
                break
            keys += message
            for key in message:
                h = new()
                h.update(key.encode())
                append(h.digest())
    if not final or final.get('count') != len(keys):
        return
    # every 4th uint64 of the joined digests: their first 8 bytes
    first = np.frombuffer(b''.join(digests), dtype='>u8')[::4]
    finish_index(keys, first, final['hashes'], final['filter'], final['filter_keys'])
    out.write(msgpack.packb({'ok': True, 'count': len(keys)}))
    out.flush()


def main():
    """Entry point of the child process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin.fileno(), sys.stdout.buffer)


if __name__ == '__main__':
    main()
