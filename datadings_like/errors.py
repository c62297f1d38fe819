"""Exceptions raised for damaged or inconsistent dataset files."""


class DatasetError(ValueError):
    """
    A dataset file (data, index, ``.md5`` or commit journal) is damaged,
    inconsistent with the others, replaced since a reader opened it, or not
    a dataset at all; or an interrupted write of the dataset cannot be
    completed. The message names the file and the problem.
    """


class DuplicateKeyError(ValueError):
    """A sample key occurs twice; keys must be unique in a dataset."""


class RemoteError(OSError):
    """
    A file at a URL cannot be read, written or listed: the network or the
    server failed after all retries, or the storage backend refused the
    request (other than not found or access denied, which raise
    :py:class:`FileNotFoundError` and :py:class:`PermissionError`). The
    message names the URL without credentials.
    """
