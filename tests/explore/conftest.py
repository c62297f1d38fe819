"""
Fixtures of the explorer's tests: the datasets of :mod:`explore.helpers`,
made once per session in a temporary directory.
"""
import subprocess
import sys

import pytest

from explore.helpers import damaged_dataset
from explore.helpers import segmentation_samples
from explore.helpers import write


@pytest.fixture(scope='session')
def datasets(tmp_path_factory):
    """Paths: ``demo`` (demo/train.msgpack, 60 samples), ``seg`` (CAMVID/val.msgpack), ``damaged``."""
    root = tmp_path_factory.mktemp('explore-data')
    subprocess.run([sys.executable, '-m', 'datadings_like.commands.write', 'demo', '--train', '60',
                    '--test', '10', '-q', '-y', '-o', str(root / 'demo')], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    seg = write(root / 'CAMVID' / 'val.msgpack', segmentation_samples())
    damaged = damaged_dataset(root / 'broken' / 'damaged.msgpack')
    return {'demo': root / 'demo' / 'train.msgpack', 'seg': seg, 'damaged': damaged,
            'root': root}
