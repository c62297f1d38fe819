#!/usr/bin/env python3
"""
Speed of the CAT2000 writer with -t 1 and -t 2 threads, on a miniature
copy of ``trainSet.zip`` and ``testSet.zip`` with images of the real size
(issue 11).

::

    python benchmarks/saliency_writers.py                  # 48 train + 16 test images
    python benchmarks/saliency_writers.py --images 100 --repeat 5
    python benchmarks/saliency_writers.py --reference /tmp/ref-pil9/bin/python

The zips are made once in ``--data-dir`` (laid out like the real ones:
``<set>/Stimuli/<Category>/NNN.jpg``, 1920x1080 JPEGs letterboxed in a grey
border, ``trainSet/FIXATIONLOCS/<Category>/NNN.mat`` with a compressed
``fixLocs`` map of a few hundred fixations; three quarters of the images are
train). Every run is the command a user types (``python -m
datadings_like.sets.CAT2000_write -s -y -q --shuffle no -t N``) in a fresh
process, interpreter start included; the runs of -t 1 and -t 2 alternate
and the medians are reported: samples/s (train and test together) and the
CPU seconds per sample of the writer's process (user + system, all threads),
which depend much less on what else the machine runs. With
``--reference`` (default: ``$DATADINGS_REFERENCE_PYTHON_PILLOW9``), datadings
3.4.7's writer (which needs Pillow < 10) is timed the same way. The
figures of a run are on the manual's CAT2000 page.
"""
from pathlib import Path
from statistics import median
import argparse
import io
import os
import resource
import subprocess
import sys
import time
import zipfile

HERE = Path(__file__).resolve().parent
CATEGORIES = ('Action', 'Art', 'Indoor', 'Satelite')
WIDTH, HEIGHT = 1920, 1080


def _stimulus(rng):
    """A 1920x1080 image: smooth content in a box, grey border around it."""
    import numpy as np
    a = np.full((HEIGHT, WIDTH, 3), 126, np.uint8)
    left = int(rng.integers(0, 300))
    upper = int(rng.integers(0, 200))
    w, h = WIDTH - 2 * left, HEIGHT - 2 * upper
    y, x = np.mgrid[0:h, 0:w]
    content = np.stack([60 + 150 * x / w, 220 - 140 * y / h, 40 + 80 * (x + y) / (w + h)], -1)
    content += rng.normal(0, 10, (h, w, 3))
    a[upper:upper + h, left:left + w] = np.clip(content, 0, 255).astype(np.uint8)
    return a, (left, upper, left + w, upper + h)


def make_zips(indir, n, seed=0):
    """Miniature CAT2000 zips with ``n`` images (3/4 train), unless they exist."""
    import numpy as np
    import scipy.io
    from PIL import Image

    done = indir / 'done'
    if done.exists():
        return
    indir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # a few distinct images and maps, reused: making them is not what is measured
    stimuli, maps = [], []
    for _ in range(6):
        a, (left, upper, right, lower) = _stimulus(rng)
        bio = io.BytesIO()
        Image.fromarray(a).save(bio, 'JPEG', quality=90)
        stimuli.append(bio.getvalue())
        fix = np.zeros((HEIGHT, WIDTH))
        fix[rng.integers(upper, lower, 400), rng.integers(left, right, 400)] = 1
        fix[0, 0] = 1
        bio = io.BytesIO()
        scipy.io.savemat(bio, {'fixLocs': fix}, do_compression=True)
        maps.append(bio.getvalue())
    train = (3 * n) // 4
    for root, count, offset in (('trainSet', train, 0), ('testSet', n - train, train)):
        with zipfile.ZipFile(indir / f'{root}.zip', 'w', zipfile.ZIP_STORED) as zf:
            for i in range(count):
                category = CATEGORIES[i % len(CATEGORIES)]
                number = f'{i // len(CATEGORIES) + 1:03d}'
                k = (i + offset) % len(stimuli)
                zf.writestr(f'{root}/Stimuli/{category}/{number}.jpg', stimuli[k])
                if root == 'trainSet':
                    zf.writestr(f'{root}/FIXATIONLOCS/{category}/{number}.mat', maps[k])
    done.write_text('ok')


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_writer(python, module, indir, outdir, threads):
    """Run a writer once; returns ``(wall seconds, CPU seconds)``."""
    cmd = [python, '-m', module, '-s', '-y', '--shuffle', 'no', '-t', str(threads),
           '-o', str(outdir), str(indir)]
    if module.startswith('datadings_like'):
        cmd.insert(3, '-q')
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed:\n{proc.stderr[-2000:]}')
    return seconds, _children_cpu() - cpu


def main(argv=None):
    """Run the benchmark and print a table of samples/s."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=64,
                        help='images in the miniature (train + test; default 64)')
    parser.add_argument('--repeat', type=int, default=3, help='runs per setting (default 3)')
    parser.add_argument('--data-dir', type=Path, default=HERE / '_data' / 'cat2000',
                        help='where the zips are made and reused (default benchmarks/_data/cat2000)')
    parser.add_argument('--reference',
                        default=os.environ.get('DATADINGS_REFERENCE_PYTHON_PILLOW9'),
                        help='python with datadings==3.4.7 and pillow<10 (default: '
                             '$DATADINGS_REFERENCE_PYTHON_PILLOW9)')
    args = parser.parse_args(argv)

    indir = args.data_dir / f'n{args.images}'
    make_zips(indir, args.images)
    settings = [('datadings_like', sys.executable, 'datadings_like.sets.CAT2000_write', t)
                for t in (1, 2)]
    if args.reference:
        settings += [('datadings 3.4.7', args.reference, 'datadings.sets.CAT2000_write', t)
                     for t in (1, 2)]
    times = {s: [] for s in settings}
    load = os.getloadavg()
    for _ in range(args.repeat):
        for setting in settings:
            _, python, module, threads = setting
            outdir = indir / 'out' / f'{module}-{threads}'
            times[setting].append(run_writer(python, module, indir, outdir, threads))
    print(f'CAT2000 writer, {args.images} images of {WIDTH}x{HEIGHT} '
          f'({(3 * args.images) // 4} train + {args.images - (3 * args.images) // 4} test), '
          f'median of {args.repeat} runs, interpreter start included; {os.cpu_count()} CPUs')
    print(f'load average before the runs: {load[0]:.1f}, after: {os.getloadavg()[0]:.1f}')
    print(f'{"writer":<16} {"-t":>3} {"seconds":>8} {"samples/s":>10} {"CPU s/sample":>13}')
    for setting in settings:
        name, _, _, threads = setting
        seconds = median(t for t, _ in times[setting])
        cpu = median(c for _, c in times[setting])
        print(f'{name:<16} {threads:>3} {seconds:>8.2f} {args.images / seconds:>10.1f} '
              f'{cpu / args.images:>13.3f}')


if __name__ == '__main__':
    main()
