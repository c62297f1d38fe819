"""
Look at datasets in a web browser: ``datadings-explore FILE [FILE ...]``
(see the manual page on the explorer), and small HTML views for Jupyter.

- :py:func:`serve` (and :py:func:`~datadings_like.explore.server.make_server`)
  runs the explorer: an overview of each file, a grid of samples, a page
  per sample with every field, and a preview of training streams;
- :py:func:`show` returns an object that Jupyter shows as HTML: a sample's
  fields (images as thumbnails) or a reader's first samples. Readers show
  themselves that way already (``Reader._repr_html_``).

The server is the standard library's :py:mod:`http.server`; the page is
plain HTML, CSS and JavaScript in ``datadings_like/explore/static``.
"""
from .server import Explorer
from .server import ExplorerServer
from .server import make_server

__all__ = ('Explorer', 'ExplorerServer', 'HTML', 'make_server', 'serve', 'show')


class HTML:
    """
    HTML text that Jupyter displays (``_repr_html_``); ``str()`` gives the text.

    Parameters:
        text: the HTML
    """

    def __init__(self, text):
        self.text = text

    def _repr_html_(self):
        return self.text

    def __str__(self):
        return self.text

    def __repr__(self):
        return f'<HTML view, {len(self.text)} characters>'


def show(value, size=192, count=12, max_pixels=None):
    """
    An HTML view of a sample (a table of its fields, images as thumbnails)
    or of a reader (a grid of its first samples) for Jupyter::

        from datadings_like.explore import show
        show(reader[3])      # in a notebook cell

    Every string from the data is escaped; images are decoded with
    Pillow's decompression-bomb limit.

    Parameters:
        value: a sample dict or a :py:class:`~datadings_like.reader.Reader`
        size: longest side of the thumbnails in pixels
        count: samples shown of a reader
        max_pixels: largest image decoded (default: ``PIL.Image.MAX_IMAGE_PIXELS``)

    Returns:
        :py:class:`HTML`
    """
    from ..reader import Reader
    from ..reader._html import reader_html
    from ..reader._html import sample_html
    if isinstance(value, Reader):
        return HTML(reader_html(value, count, size, max_pixels))
    return HTML(sample_html(value, size, max_pixels))


def serve(paths, host='127.0.0.1', port=0, open_browser=False, **kwargs):
    """
    Run the explorer until interrupted (Ctrl-C).

    Parameters:
        paths: dataset files
        host: address to bind
        port: port (0: a free one)
        open_browser: open the page in the default browser
        kwargs: more options of :py:func:`make_server`

    Raises:
        OSError: the address cannot be bound
        FileNotFoundError, DatasetError, UserError, ValueError: a file
            cannot be opened
    """
    server = make_server(paths, host, port, **kwargs)
    try:
        print(f'datadings-explore: {server.url}', flush=True)
        if open_browser:
            import webbrowser
            webbrowser.open(server.url)
        server.serve_forever()
    finally:
        server.server_close()
        server.explorer.close()
