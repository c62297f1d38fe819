"""
Helpers of the explorer tests. Datasets for the explorer's tests, made here: a ``demo`` dataset (by its
writer), a miniature segmentation dataset laid out as CAMVID (label maps,
Segments, an ImageArray, saliency experiments, an XSS key), and a dataset
with a damaged sample, a damaged image and a decompression bomb.

Also :class:`Browser`: headless Debian ``chromium`` driven over the
DevTools protocol through ``--remote-debugging-pipe`` (file descriptors
3 and 4, NUL-separated JSON), without selenium.
"""
import base64
import io
import json
import os
import select
import shutil
import struct
import subprocess
import time
import zlib

import numpy as np
from PIL import Image

from datadings_like.arrays import ImageArray
from datadings_like.masks import Segments
from datadings_like.writer import FileWriter

XSS_KEY = '<script>alert(1)</script>'
XSS_NOTE = '<img src=x onerror="window.__xss=1">'


def jpeg(width, height, color, noise=True, seed=0):
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = color
    if noise:
        pixels[::4, ::4] = rng.integers(0, 255, (len(range(0, height, 4)), len(range(0, width, 4)), 3))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, 'JPEG', quality=90)
    return buf.getvalue()


def png(array, mode=None):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, 'PNG')
    return buf.getvalue()


def bomb_png(width=100000, height=100000):
    """A valid PNG header claiming a huge image, with almost no data."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr)
            + chunk(b'IDAT', zlib.compress(b'\x00' * 100)) + chunk(b'IEND', b''))


def write(path, samples):
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileWriter(path, disable=True) as writer:
        for sample in samples:
            writer.write(sample)
    return path


def segmentation_samples(n=6):
    samples = []
    h, w = 32, 48
    for i in range(n):
        labels = np.zeros((h, w), np.uint8)
        labels[:, w // 2:] = 3            # CAMVID: Road
        labels[h // 2:, :w // 3] = 8      # CAMVID: Car
        labels[0, 0] = 11                 # void
        segments = Segments(shape=(h, w))
        mask = np.zeros((h, w), bool)
        mask[4:12, 6:20] = True
        segments.add(mask, label=8, iid=(b'camvid', b'car'), group='objects')
        mask2 = np.zeros((h, w), bool)
        mask2[16:30, 28:44] = True
        segments.add(mask2, label='building', group='objects')
        stack = np.zeros((h, w, 4), np.uint8)
        for k in range(4):
            stack[:, :, k] = 60 * k
            stack[k * 4:k * 4 + 8, k * 8:k * 8 + 8, k] = 255
        fixations = [{'locations': np.array([[5.5, 6.0], [20.0, 10.0], [40.0, 25.0]]), 'map': None},
                     {'locations': np.array([[24.0, 16.0], [30.0, 20.0]]), 'map': None}]
        samples.append({
            'key': XSS_KEY if i == 1 else f'seq05-{i:03d}',
            'image': jpeg(w, h, (30 * i % 255, 120, 200), seed=i),
            'label_image': png(labels),
            'segments': segments.encode(),
            'stack': ImageArray.encode(stack, lossless=True, dim_names=('y', 'x', 'time')).to_value(),
            'experiments': fixations,
            'label': i % 3,
            'note': XSS_NOTE,
            'raw': bytes(range(100)),
            'vector': np.linspace(0, 1, 5, dtype=np.float32),
            'meta': {'camera': 'front', 'frame': i},
        })
    return samples


def damaged_dataset(path):
    """Six samples: 2 cannot be decoded, 3 has a damaged JPEG, 4 is a decompression bomb."""
    samples = [{'key': f'd{i}', 'image': jpeg(40, 30, (200, 40 * i, 40)), 'label': i % 2}
               for i in range(6)]
    samples[3]['image'] = samples[3]['image'][:40]
    samples[4]['image'] = bomb_png()
    write(path, samples)
    offsets = np.fromfile(str(path) + '.offsets', dtype='>u8')
    data = bytearray(path.read_bytes())
    data[int(offsets[2])] = 0xc1   # a msgpack byte that is never used
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------ the browser

def chromium_path():
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """
    Headless chromium over the DevTools protocol (``--remote-debugging-pipe``).

    Parameters:
        profile: a fresh directory for the browser profile
        width, height: the window size
    """

    def __init__(self, profile, width=1200, height=900):
        exe = chromium_path()
        args = [exe, '--headless', '--remote-debugging-pipe', '--disable-gpu',
                '--no-first-run', '--no-default-browser-check', '--disable-extensions',
                '--disable-background-networking', '--disable-sync', '--mute-audio',
                '--hide-scrollbars', f'--user-data-dir={profile}',
                f'--window-size={width},{height}', 'about:blank']
        if hasattr(os, 'geteuid') and os.geteuid() == 0:
            args.insert(1, '--no-sandbox')   # chromium refuses to run as root otherwise
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        # in the child: fd 3 reads commands, fd 4 writes answers; the pipes'
        # own descriptors are close-on-exec, so only these two are inherited
        def wire():
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=wire,
                                     close_fds=False)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b''
        self._id = 0
        self.events = []
        target = self.call('Target.createTarget', url='about:blank')['targetId']
        self.session = self.call('Target.attachToTarget', targetId=target,
                                 flatten=True)['sessionId']
        self.call('Page.enable', session=True)
        self.call('Runtime.enable', session=True)
        self.call('Emulation.setDeviceMetricsOverride', session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)
        # an alert() would mean injected script ran: remember it instead of blocking
        self.call('Page.addScriptToEvaluateOnNewDocument', session=True,
                  source='window.alert = function () { window.__alerted = true; };')

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while b'\0' not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError('chromium did not answer')
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError('chromium closed the pipe')
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b'\0', 1)
        return json.loads(message)

    def call(self, method, session=False, timeout=30, **params):
        """Send a DevTools command and return its result."""
        self._id += 1
        message = {'id': self._id, 'method': method, 'params': params}
        if session:
            message['sessionId'] = self.session
        os.write(self._out, json.dumps(message).encode() + b'\0')
        while True:
            answer = self._read(timeout)
            if answer.get('id') == self._id:
                if 'error' in answer:
                    raise RuntimeError(f'{method}: {answer["error"]}')
                return answer.get('result', {})
            self.events.append(answer)

    def evaluate(self, expression, timeout=30):
        """The value of a JavaScript expression (promises are awaited)."""
        result = self.call('Runtime.evaluate', session=True, timeout=timeout,
                           expression=expression, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in result:
            raise RuntimeError(f'{expression[:80]}: {result["exceptionDetails"]}')
        return result['result'].get('value')

    def wait_for(self, expression, timeout=20):
        """Wait until a JavaScript expression is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.05)
        raise TimeoutError(f'not true after {timeout} s: {expression}')

    def open(self, url):
        """Load a page and wait until its script has rendered it and its images are loaded."""
        # a change of the hash only keeps the document: unmark it first
        self.evaluate("document.body && (document.body.dataset.ready = '0')")
        self.call('Page.navigate', session=True, url=url)
        self.wait_ready()

    def wait_ready(self, timeout=20):
        """Wait for the app's ``data-ready`` mark and for every image to finish loading."""
        self.wait_for("document.body && document.body.dataset.ready === '1' && "
                      "Array.from(document.images).every(i => i.complete)", timeout)

    def screenshot(self):
        """PNG bytes of the page as it is shown."""
        return base64.b64decode(self.call('Page.captureScreenshot', session=True,
                                          format='png')['data'])

    def close(self):
        try:
            self.call('Browser.close', timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)


def not_blank(png_bytes):
    """True if a screenshot shows more than a plain background."""
    image = Image.open(io.BytesIO(png_bytes)).convert('RGB')
    pixels = np.asarray(image)
    colors = len(np.unique(pixels.reshape(-1, 3)[::7], axis=0))
    return pixels.std() > 10 and colors > 50
