"""Open files that may be gzip- or xz-compressed, judged by their suffix."""
import gzip
import lzma


def open_comp(path, mode='rb', level=None, encoding=None):
    """
    Open a file that may be compressed.
    Supports gzip (``.gz``), xz (``.xz``), or uncompressed files.

    Parameters:
        path: file path
        mode: open mode
        level: compression level/preset for writing
        encoding: encoding for text mode

    Returns:
        open file object
    """
    path = str(path)
    if path.endswith('.gz'):
        kwargs = {} if level is None else {'compresslevel': level}
        return gzip.open(path, mode=mode, encoding=encoding, **kwargs)
    if path.endswith('.xz'):
        return lzma.open(path, mode=mode, preset=level, encoding=encoding)
    return open(path, mode=mode, encoding=encoding)
