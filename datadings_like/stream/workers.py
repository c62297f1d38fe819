"""
Where a :py:class:`~datadings_like.stream.Stream` runs its transforms: in
the calling thread, in threads, or in worker processes.

A *task* is a batch (or a chunk of single samples): the encoded samples,
their positions in the epoch's order, the epoch and the seed. The worker
gives every sample its own generator, ``numpy.random.default_rng([seed,
epoch, position])``, runs the pipeline and assembles the batch, so results
do not depend on which worker did the work, or how many there are. Results
are collected in the order the tasks were submitted.

Worker processes write the arrays of a batch straight into a file in
shared memory (``/dev/shm``); the stream maps that file and removes its
name at once, so the batch reaches the caller without being copied again
(the memory is freed when the last array of the batch is). Where there is
no usable ``/dev/shm``, results travel through a pipe.
"""
from collections import deque
from concurrent.futures import ThreadPoolExecutor
import errno
import mmap
import multiprocessing
import os
import pickle
import queue
import shutil
import signal
import tempfile
import threading
import traceback
import weakref

import numpy as np

from .batch import layout
from .batch import stack_into

__all__ = ('PARALLEL', 'make_executor', 'run_task')

#: Values of the ``parallel`` option of a Stream.
PARALLEL = ('process', 'thread')

# batches with fewer array bytes than this travel through the pipe
_SHM_MIN_BYTES = 64 * 1024
_SHM_ROOT = '/dev/shm'
#: Environment variable naming another directory than ``/dev/shm`` for the
#: batches of worker processes (see :py:func:`shm_root`).
SHM_DIR_VARIABLE = 'DATADINGS_LIKE_SHM_DIR'


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (its ``__cause__``)."""

    def __str__(self):
        return self.args[0]


def _add_note(exc, note):
    add = getattr(exc, 'add_note', None)
    if add is not None:
        add(note)


def transform_samples(pipeline, seed, epoch, positions, samples):
    """
    Run ``pipeline`` on every sample with its own generator.

    Parameters:
        pipeline: callable ``pipeline(sample, rng) -> sample``, or ``None``
        seed: the stream's seed
        epoch: the epoch
        positions: position of each sample in the epoch's order
        samples: the samples (dicts; changed in place by most pipelines)

    Returns:
        list of transformed samples
    """
    if pipeline is None:
        return list(samples)
    out = []
    for position, sample in zip(positions, samples):
        rng = np.random.default_rng([seed, epoch, int(position)])
        try:
            out.append(pipeline(sample, rng))
        except Exception as exc:
            key = sample.get('key') if isinstance(sample, dict) else None
            _add_note(exc, f'while transforming sample {key!r} '
                           f'(epoch {epoch}, position {int(position)})')
            raise
    return out


def run_task(pipeline, task, shm_dir=None):
    """
    Do one task.

    Parameters:
        pipeline: callable ``pipeline(sample, rng) -> sample``, or ``None``
        task: ``(number, seed, epoch, positions, samples, batched)``
        shm_dir: directory in shared memory for the batch's arrays, or
            ``None`` to return them as arrays

    Returns:
        ``('samples', list)``, ``('batch', dict, None)`` or
        ``('shm', path, nbytes, arrays, lists, names)`` (see :py:func:`receive`)
    """
    number, seed, epoch, positions, samples, batched = task
    out = transform_samples(pipeline, seed, epoch, positions, samples)
    if not batched:
        return ('samples', out)
    arrays, lists, nbytes = layout(out)
    names = list(out[0])
    if shm_dir is None or nbytes < _SHM_MIN_BYTES:
        return _batch_for_pipe(arrays, lists, names)
    path = os.path.join(shm_dir, f'{os.getpid()}-{number}')
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _reserve(fd, nbytes)
        mm = mmap.mmap(fd, nbytes)
    except BaseException as exc:
        os.close(fd)
        os.unlink(path)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # shared memory is full (a container's small /dev/shm): this
            # batch goes through the pipe instead
            return _batch_for_pipe(arrays, lists, names)
        raise
    os.close(fd)
    try:
        stack_into(arrays, mm)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        mm.close()
    return ('shm', path, nbytes, [(name, shape, dtype, offset) for name, shape, dtype, offset, _
                                  in arrays], lists, names)


def _batch_for_pipe(arrays, lists, names):
    """A ``('batch', dict)`` result: the stacked arrays in this process's memory."""
    stacked = {}
    for name, shape, dtype, _, values in arrays:
        stacked[name] = array = np.empty(shape, dtype=dtype)
        for i, v in enumerate(values):
            array[i] = v
    return ('batch', {name: stacked[name] if name in stacked else lists[name]
                      for name in names})


def _reserve(fd, nbytes):
    """
    Give the file ``fd`` ``nbytes`` of allocated space. A full file system
    raises ``OSError`` (ENOSPC) here, where merely growing the file would let
    the first write to its map kill the process with SIGBUS.
    """
    fallocate = getattr(os, 'posix_fallocate', None)
    if fallocate is not None:
        try:
            fallocate(fd, 0, nbytes)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.ftruncate(fd, nbytes)


def receive(result):
    """
    The samples or the batch of a :py:func:`run_task` result, in this
    process (a batch in shared memory is mapped and its file removed).
    """
    kind = result[0]
    if kind != 'shm':
        return result[1]
    _, path, nbytes, arrays, lists, names = result
    fd = os.open(path, os.O_RDWR)
    try:
        os.unlink(path)
        mm = mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)
    stacked = {name: np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset)
               for name, shape, dtype, offset in arrays}
    return {name: stacked[name] if name in stacked else lists[name] for name in names}


def discard(result):
    """Free what an unused result holds (its shared memory file)."""
    if result is not None and result[0] == 'shm':
        try:
            os.unlink(result[1])
        except FileNotFoundError:
            pass


# ----------------------------------------------------------- executors

class _Done:
    __slots__ = ('value', 'error')

    def __init__(self, value=None, error=None):
        self.value = value
        self.error = error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class SerialExecutor:
    """Runs every task in the calling thread, when it is submitted."""

    workers = 0

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def submit(self, task):
        """Run ``task`` now; returns a handle whose ``result()`` gives the samples or batch."""
        try:
            return _Done(receive(run_task(self.pipeline, task)))
        except Exception as exc:
            return _Done(error=exc)

    def drain(self):
        """Nothing is pending."""

    def close(self):
        """Nothing to release."""


class ThreadExecutor:
    """
    Runs tasks in a pool of threads (Pillow and numpy release the GIL for
    most of their work).
    """

    def __init__(self, pipeline, workers):
        self.pipeline = pipeline
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix='datadings-stream')
        self._pending = set()

    def _run(self, task):
        return receive(run_task(self.pipeline, task))

    def submit(self, task):
        """Queue ``task``; returns a future."""
        future = self._pool.submit(self._run, task)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def drain(self):
        """Wait for the pending tasks and drop their results."""
        for future in list(self._pending):
            future.cancel()
            try:
                future.result()
            except BaseException:
                pass

    def close(self):
        """Stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _receive_tasks(conn, tasks):
    """Thread of a worker process: move tasks from the pipe to the queue at once."""
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            task = None
        tasks.put(task)
        if task is None:
            return


def _worker_main(tasks_conn, results_conn, pipeline, shm_dir):
    """
    Loop of a worker process: take a task, send its result.

    A thread receives the tasks as soon as they come, so the stream never
    waits to send one while the worker waits to send a result (which the
    stream would only read after its send).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stream's to handle
    tasks = queue.SimpleQueue()
    threading.Thread(target=_receive_tasks, args=(tasks_conn, tasks), daemon=True).start()
    while True:
        task = tasks.get()
        if task is None:
            return
        try:
            result = ('ok', run_task(pipeline, task, shm_dir))
        except BaseException as exc:
            result = ('error', exc, traceback.format_exc())
        try:
            results_conn.send(result)
        except (BrokenPipeError, EOFError, ConnectionResetError):
            discard(result[1] if result[0] == 'ok' else None)
            return
        except Exception as exc:  # the result cannot be pickled
            if result[0] == 'ok':
                discard(result[1])
                error = TypeError(
                    f'a worker process cannot send its result to the stream: {exc}; the '
                    'transforms must leave only picklable values in the samples (numbers, '
                    'strings, bytes, numpy arrays, lists, dicts)')
            else:
                error = RuntimeError(f'{type(result[1]).__name__}: {result[1]}')
            try:
                results_conn.send(('error', error, traceback.format_exc()))
            except Exception:
                return


class _ProcessHandle:
    __slots__ = ('executor', 'worker', 'done')

    def __init__(self, executor, worker):
        self.executor = executor
        self.worker = worker
        self.done = None

    def result(self):
        if self.done is None:
            self.executor._collect(self)
        return self.done.result()


def _shutdown(procs, tasks, results, shm_dir):
    for conn in tasks:
        try:
            conn.send(None)
        except Exception:
            pass
    for conn in results:  # a worker blocked on sending a result gives up
        conn.close()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
    for conn in tasks:
        conn.close()
    if shm_dir is not None:
        shutil.rmtree(shm_dir, ignore_errors=True)


def shm_root():
    """
    The directory in which worker processes put the batches they hand over:
    ``$DATADINGS_LIKE_SHM_DIR`` if it is set and not empty, else ``/dev/shm``.
    """
    return os.environ.get(SHM_DIR_VARIABLE) or _SHM_ROOT


def _shm_dir():
    """A private directory in shared memory, or None where there is none."""
    root = shm_root()
    if not os.path.isdir(root) or not os.access(root, os.W_OK):
        return None
    try:
        return tempfile.mkdtemp(prefix='datadings-stream-', dir=root)
    except OSError:
        return None


class ProcessExecutor:
    """
    Runs tasks in worker processes. Tasks are dealt round-robin, so the
    results of one worker come back in the order it received its tasks.

    Parameters:
        pipeline: the (picklable) pipeline
        workers: number of processes
        start_method: ``multiprocessing`` start method; ``None`` for the
            default of the platform
        shared_memory: pass batches through ``/dev/shm`` where possible
    """

    def __init__(self, pipeline, workers, start_method=None, shared_memory=True):
        self.workers = workers
        #: a worker died: the stream starts new ones for its next iteration
        self.broken = False
        context = multiprocessing.get_context(start_method)
        self._shm_dir = _shm_dir() if shared_memory else None
        self._procs = []
        self._conns = []
        self._pending = [deque() for _ in range(workers)]
        self._next = 0
        self._tasks = []
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._tasks, self._conns,
                                           self._shm_dir)
        try:
            for i in range(workers):
                # one-way pipes: Pipe(duplex=False) gives (receiving end, sending end)
                tasks_received, tasks_sent = context.Pipe(duplex=False)
                results_received, results_sent = context.Pipe(duplex=False)
                proc = context.Process(target=_worker_main,
                                       args=(tasks_received, results_sent, pipeline, self._shm_dir),
                                       name=f'datadings-stream-{i}', daemon=True)
                proc.start()
                tasks_received.close()
                results_sent.close()
                self._procs.append(proc)
                self._tasks.append(tasks_sent)
                self._conns.append(results_received)
        except BaseException:
            self.close()
            raise

    def submit(self, task):
        """Send ``task`` to the next worker; returns a handle."""
        w = self._next
        self._next = (w + 1) % self.workers
        handle = _ProcessHandle(self, w)
        try:
            self._tasks[w].send(task)
        except (BrokenPipeError, EOFError, ConnectionResetError, OSError):
            raise self._died(w) from None
        self._pending[w].append(handle)
        return handle

    def _died(self, w):
        self.broken = True
        proc = self._procs[w]
        proc.join(timeout=1)
        return RuntimeError(f'stream worker process {w} (pid {proc.pid}) died unexpectedly '
                            f'(exit code {proc.exitcode}); it may have run out of memory')

    def _collect(self, handle):
        """Receive results of ``handle``'s worker up to and including its own."""
        w = handle.worker
        pending = self._pending[w]
        while handle.done is None:
            first = pending.popleft()
            try:
                message = self._conns[w].recv()
            except (EOFError, OSError, ConnectionResetError):
                first.done = _Done(error=self._died(w))
                continue
            except Exception as exc:  # an exception of the worker that does not unpickle
                first.done = _Done(error=RuntimeError(
                    f'stream worker process {w} failed, and its error cannot be shown here '
                    f'({type(exc).__name__}: {exc})'))
                continue
            if message[0] == 'ok':
                try:
                    first.done = _Done(receive(message[1]))
                except OSError as exc:
                    first.done = _Done(error=exc)
            else:
                _, exc, text = message
                exc.__cause__ = RemoteTraceback(text)
                first.done = _Done(error=exc)

    def drain(self):
        """Receive and drop the results of all pending tasks."""
        for w, pending in enumerate(self._pending):
            while pending:
                handle = pending.popleft()
                handle.done = _Done(error=RuntimeError('the task was dropped'))
                try:
                    message = self._conns[w].recv()
                except (EOFError, OSError):
                    self.broken = True
                    pending.clear()
                    break
                except Exception:  # an error that does not unpickle: nothing to free
                    continue
                if message[0] == 'ok':
                    discard(message[1])

    def close(self):
        """Stop the worker processes and remove their shared memory."""
        self._finalizer()


def make_executor(pipeline, workers, parallel='process', start_method=None, shared_memory=True):
    """
    The executor for ``workers`` workers of kind ``parallel``.

    Parameters:
        pipeline: callable ``pipeline(sample, rng) -> sample`` or ``None``
        workers: 0 runs tasks in the calling thread
        parallel: ``'process'`` or ``'thread'``
        start_method: ``multiprocessing`` start method (processes)
        shared_memory: pass batches through shared memory (processes)

    Returns:
        :py:class:`SerialExecutor`, :py:class:`ThreadExecutor` or
        :py:class:`ProcessExecutor`

    Raises:
        ValueError: unknown ``parallel``
    """
    if parallel not in PARALLEL:
        raise ValueError(f'parallel must be one of {PARALLEL}, not {parallel!r}')
    if not workers:
        return SerialExecutor(pipeline)
    if parallel == 'thread':
        return ThreadExecutor(pipeline, workers)
    if multiprocessing.current_process().daemon:
        # e.g. a DataLoader worker: daemonic processes cannot start processes
        return ThreadExecutor(pipeline, workers)
    method = start_method or multiprocessing.get_start_method()
    if method != 'fork':
        # workers get the pipeline pickled: fail here, naming the transform
        try:
            pickle.dumps(pipeline)
        except Exception as exc:
            raise TypeError(
                f'the transforms cannot be sent to {method!r} worker processes, since they do '
                f'not pickle ({exc}); define transform classes at module level, or use '
                "parallel='thread'") from None
    return ProcessExecutor(pipeline, workers, start_method, shared_memory)
