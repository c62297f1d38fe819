"""Create SALICON 2017 challenge data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- image.zip (the 20000 images: 10000 train, 5000 val, 5000 test; the
  same file as for SALICON2015)
- fixations.zip (the 2017 mouse-tracking data: one .mat per train and
  val image; not the same file as SALICON2015's)
"""
from ..tools.cli import run_main
from . import SALICON2015_write
# the writer is SALICON2015's: only the fixations differ
from .SALICON2015_write import experiments_from_mat  # noqa: F401
from .SALICON2015_write import get_keys  # noqa: F401
from .SALICON2015_write import write_set  # noqa: F401
from .SALICON2015_write import write_sets  # noqa: F401
from .SALICON2015_write import yield_samples  # noqa: F401

__doc__ += SALICON2015_write.HELP + """
See also:
    http://salicon.net/challenge-2017/

""" + SALICON2015_write.describe_keys()

__all__ = (
    'FILES',
    'experiments_from_mat',
    'get_keys',
    'main',
    'write_set',
    'write_sets',
    'yield_samples',
)

FILES = {
    'images': dict(SALICON2015_write.FILES['images']),
    'fixations': {
        'path': 'fixations.zip',
        'url': SALICON2015_write.BASE_URL + '1P-jeZXCsjoKO79OhFUgnj6FGcyvmLDPj',
        'md5': '462b70f4f9e8ea446ac628e46cea8d3d',
    },
}


def main(argv=None):
    """Write the SALICON 2017 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    SALICON2015_write.run(FILES, __doc__, argv)


if __name__ == '__main__':
    run_main(main)
