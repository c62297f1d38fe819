"""Load and decode every image from given image packs. If an image either
does not decode properly or does not contain useful content, its
containing zip file and index are written to the reject file.

Scans the YFCC100m zip packs (IMAGE_PACKS/PACK.zip) for images that are
not useful, by the rules of datadings_like.sets.YFCC100m.rejection_reason:

- damaged or cut off (cannot be decoded, or the zip member is damaged),
- smaller than 2600 bytes,
- exactly 9218 bytes (Flickr's placeholder for photos that are gone),
- smaller than 20000 bytes and blank or nearly uniform: decoded in grey
  at 1/8 scale, less than 5% of its columns have a variance of 50 or more.

The reject list is written to IMAGE_PACKS/YFCC100m_rejected_images.msgpack.xz
(or -r PATH), where YFCC100mReader looks for it by default: a msgpack map
{pack name: [index of the image in the pack, ...]}, which datadings 3.4.7
reads too. Every pack is scanned by one of N processes (-t N; default 0: all
CPUs); decoding at 1/8 scale costs about 1-2 ms per image, so the ~100
million images take roughly 30-60 CPU hours.

The scan can be stopped (Ctrl-C) or killed at any time: the packs done so
far are kept in a hidden log next to the reject list
(.YFCC100m_rejected_images.msgpack.xz.partial), and the same command goes
on with the remaining packs; --restart scans all packs again.
"""
import concurrent.futures
import os
import sys

from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('REASON_CODES', 'scan_pack', 'scan_packs', 'main')

#: How reasons are written in the log.
REASON_CODES = {'damaged': 'd', 'too small': 's', 'placeholder': 'p', 'low variance': 'v'}
_CODE_REASONS = {code: reason for reason, code in REASON_CODES.items()}
_LOG_HEADER = '# datadings_like YFCC100m reject scan 1'


def scan_pack(path):
    """
    Judge every image of one pack with
    :py:func:`~datadings_like.sets.YFCC100m.rejection_reason`; a member
    whose data cannot be read from the zip file counts as damaged.

    Parameters:
        path: path of ``PACK.zip``

    Returns:
        ``(pack name, number of images, [(index, reason), ...])``

    Raises:
        FileNotFoundError: the pack does not exist
        DatasetError: it is not a readable zip file
    """
    from ..errors import DatasetError
    from .YFCC100m import DAMAGED
    from .YFCC100m import open_pack
    from .YFCC100m import pack_members
    from .YFCC100m import read_member
    from .YFCC100m import rejection_reason

    name = os.path.basename(path)[:-len('.zip')]
    rejected = []
    with open_pack(path) as zf:
        members = pack_members(zf)
        for i, info in enumerate(members):
            try:
                data = read_member(zf, info, path)
            except DatasetError:
                rejected.append((i, DAMAGED))
                continue
            reason = rejection_reason(data)
            if reason is not None:
                rejected.append((i, reason))
    return name, len(members), rejected


def find_packs(image_packs):
    """The packs ``*.zip`` of a directory, sorted by name (paths)."""
    try:
        entries = list(os.scandir(image_packs))
    except FileNotFoundError:
        raise UserError(f'{image_packs}: no such directory') from None
    except NotADirectoryError:
        raise UserError(f'{image_packs}: not a directory') from None
    names = sorted(e.name for e in entries if e.name.endswith('.zip') and e.is_file())
    if not names:
        raise UserError(f'{image_packs}: no image packs (*.zip) here')
    return [os.path.join(image_packs, name) for name in names]


class _Log:
    """
    What a scan has done so far: one line per pack,
    ``PACK<TAB>IMAGES<TAB>INDEX:CODE,...``, appended and made durable as
    each pack is done; a line cut off by a kill is dropped.
    """

    def __init__(self, path, image_packs, restart):
        self.path = path
        self.header = f'{_LOG_HEADER} {os.path.abspath(image_packs)}\n'
        self.done = {}
        if restart:
            self._remove()
        self._load()
        self.f = open(path, 'ab')
        if self.f.tell() == 0:
            self._append(self.header)

    def _remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _load(self):
        try:
            with open(self.path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return
        complete = data[:data.rfind(b'\n') + 1]
        try:
            lines = complete.decode('utf-8').splitlines(keepends=True)
            if not lines or lines[0] != self.header:
                raise UserError(
                    f'{self.path}: the log of a scan of other packs (or damaged); run '
                    'the scan with --restart to start over')
            for line in lines[1:]:
                name, images, rejects = line.rstrip('\n').split('\t')
                entries = []
                for item in filter(None, rejects.split(',')):
                    index, code = item.split(':')
                    entries.append((int(index), _CODE_REASONS[code]))
                self.done[name] = (int(images), entries)
        except (UnicodeDecodeError, ValueError, KeyError):
            raise UserError(f'{self.path}: damaged scan log; run the scan with --restart '
                            'to start over') from None
        if len(complete) != len(data):
            with open(self.path, 'r+b') as f:
                f.truncate(len(complete))

    def _append(self, text):
        self.f.write(text.encode('utf-8'))
        self.f.flush()
        os.fsync(self.f.fileno())

    def add(self, name, images, rejected):
        items = ','.join(f'{i}:{REASON_CODES[r]}' for i, r in rejected)
        self._append(f'{name}\t{images}\t{items}\n')
        self.done[name] = (images, rejected)

    def close(self, remove=False):
        self.f.close()
        if remove:
            self._remove()


def _results(paths, workers):
    """Yield the results of :py:func:`scan_pack` for ``paths``, as they come."""
    if workers <= 1:
        for path in paths:
            yield scan_pack(path)
        return
    from .tools import process_pool
    executor = process_pool(workers)
    pending = set()
    todo = iter(paths)
    try:
        while True:
            for path in todo:
                pending.add(executor.submit(scan_pack, path))
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                break
            finished, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def scan_packs(image_packs, outfile=None, workers=1, restart=False, quiet=False,
               overwrite=False):
    """
    Scan every pack of a directory (see :py:func:`scan_pack`), in
    ``workers`` processes, and write the reject list (see
    :py:func:`~datadings_like.sets.YFCC100m.write_reject_file`). Resumes
    an interrupted scan (see the module's description).

    Parameters:
        image_packs: directory of the packs
        outfile: the reject list (default
            ``image_packs/YFCC100m_rejected_images.msgpack.xz``)
        workers: number of processes
        restart: scan all packs again instead of going on
        quiet: no progress bar and summary
        overwrite: replace an existing reject list without asking

    Returns:
        dict reason -> number of images rejected for it (and ``'images'``:
        the number of images, ``'packs'``: of packs)

    Raises:
        UserError: no packs, or a damaged log of an interrupted scan
        FileExistsError: the reject list exists and may not be replaced
        DatasetError: a pack is not a readable zip file
    """
    from ..tools import make_printer
    from ..tools import query_user
    from ..tools import stdin_is_interactive
    from .YFCC100m import REASONS
    from .YFCC100m import REJECTED_FILE
    from .YFCC100m import write_reject_file
    from .YFCC100m_counts import FILE_COUNTS

    image_packs = os.fspath(image_packs)
    outfile = os.fspath(outfile) if outfile else os.path.join(image_packs, REJECTED_FILE)
    paths = find_packs(image_packs)
    if os.path.exists(outfile) and not overwrite:
        refusal = f'{outfile} exists; replace it with -y'
        if not stdin_is_interactive():
            raise FileExistsError(refusal)
        answer = query_user(f'{outfile} exists, overwrite?')
        if answer == 'abort':
            raise KeyboardInterrupt(outfile)
        if answer != 'yes':
            raise FileExistsError(refusal)
    directory = os.path.dirname(os.path.abspath(outfile))
    log = _Log(os.path.join(directory, f'.{os.path.basename(outfile)}.partial'),
               image_packs, restart)
    finished = False
    try:
        names = [os.path.basename(p)[:-len('.zip')] for p in paths]
        todo = [p for p, name in zip(paths, names) if name not in log.done]
        known = dict(FILE_COUNTS)
        total = sum(known[n] for n in names) if all(n in known for n in names) else None
        if log.done and not quiet:
            print(f'going on with an interrupted scan: {len(log.done)} of {len(paths)} '
                  'packs done', file=sys.stderr)
        with make_printer(total=total, initial=sum(i for i, _ in log.done.values()),
                          desc='images', disable=quiet) as bar:
            for name, images, rejected in _results(todo, workers):
                log.add(name, images, rejected)
                bar.update(images)
        results = {name: log.done[name] for name in names}
        write_reject_file(outfile, {name: [i for i, _ in rejected]
                                    for name, (_, rejected) in results.items() if rejected})
        finished = True
    finally:
        log.close(remove=finished)
        if not finished and log.done and not quiet:
            print(f'stopped after {len(log.done)} of {len(paths)} packs; run the same '
                  'command again to go on', file=sys.stderr)
    stats = dict.fromkeys(REASONS, 0)
    for _, rejected in results.values():
        for _, reason in rejected:
            stats[reason] += 1
    stats['images'] = sum(images for images, _ in results.values())
    stats['packs'] = len(results)
    if not quiet:
        n = sum(stats[r] for r in REASONS)
        print(f'{stats["images"]} images in {stats["packs"]} packs, {n} rejected '
              f'({stats["damaged"]} damaged, {stats["too small"]} smaller than 2600 bytes, '
              f'{stats["placeholder"]} placeholders, {stats["low variance"]} with low '
              f'variance): {outfile}', file=sys.stderr)
    return stats


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main(argv=None, prog=None):
    """Scan image packs and write the reject list; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools.argparse import argument_no_confirm
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_threads
    from ..tools.argparse import make_parser_simple

    parser = make_parser_simple(__doc__, prog=prog)
    parser.add_argument(
        'image_packs', metavar='IMAGE_PACKS',
        help='path to directory of image zip files',
    )
    parser.add_argument(
        '-r', '--rejectfile', metavar='PATH', default=None,
        help='path of the reject list to write; .xz or .gz compress it '
             '(default: IMAGE_PACKS/YFCC100m_rejected_images.msgpack.xz)',
    )
    threads = argument_threads(parser, default=0)
    threads.help = ('Number of processes that scan packs; 0 uses all available CPUs. '
                    '(default: 0)')
    parser.add_argument(
        '--restart', action='store_true',
        help='scan all packs again instead of going on with an interrupted scan',
    )
    argument_no_confirm(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    workers = args.threads or _available_cpus()
    scan_packs(args.image_packs, args.rejectfile, workers=workers, restart=args.restart,
               quiet=args.quiet, overwrite=args.no_confirm)


if __name__ == '__main__':
    run_main(main)
