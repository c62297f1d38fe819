"""
Ctrl-C (SIGINT) at any moment of a shell tool (issue 9, item 8): while its
modules are imported, in the middle of the work, twice in quick succession
during the clean-up, and while the interpreter exits. Every time: exit
status 130, one line on stderr and no traceback, no temporary files, and
the output is absent or complete.

The tools run as real subprocesses in a session of their own; signals go to
the whole process group, as a terminal sends them. Nothing depends on
timing: the child pauses at the moment under test (an import hook, or a
patched function) and says so through a marker file; the test signals it
and then lets it go on by creating a second file. Every wait is bounded.
"""
from pathlib import Path
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, 'killpg'), reason='POSIX signals')

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds: the longest a child or the test ever waits

# the pause of a child: create MARKDIR/NAME, wait for MARKDIR/NAME.go
PAUSE = '''
import os as _os, sys as _sys, time as _time
_MARKS = _os.environ.get('DDL_TEST_MARKS')
def _pause(name):
    open(_os.path.join(_MARKS, name), 'w').close()
    deadline = _time.monotonic() + %d
    while not _os.path.exists(_os.path.join(_MARKS, name + '.go')):
        if _time.monotonic() > deadline:
            _sys.exit('test child: nobody said go to ' + name)
        _time.sleep(0.005)
''' % WAIT

# start-up: pause when the first heavy third-party module is imported (or
# one named in DDL_TEST_PAUSE_IMPORTS); the processes of a pool say which
# they are in the marker's name
SITECUSTOMIZE = PAUSE + '''
_HEAVY = ('numpy', 'msgpack', 'tqdm', 'PIL')
def _which():
    argv = ' '.join(getattr(_sys, 'orig_argv', _sys.argv))
    for what in ('forkserver', 'spawn_main', 'resource_tracker'):
        if what in argv:
            return 'import-' + what
    return 'import'
class _PauseOnImport:
    def find_spec(self, name, path=None, target=None):
        names = _os.environ.get('DDL_TEST_PAUSE_IMPORTS', '')
        names = _HEAVY if names == '1' else names.split(',')
        if name.partition('.')[0] in names:
            _sys.meta_path.remove(self)
            _pause(_which())
        return None
_sys.meta_path.insert(0, _PauseOnImport())
'''

# work and clean-up: pause right after the first temporary file is made
# ('setup': a writer holds back Ctrl-C there), before the second one is
# made ('temps'), or at the 10th sample written ('write'); then again when
# the first temporary file is removed (with 'error': only then)
PATCHES = PAUSE + '''
import tempfile as _tempfile
_WHERE = _os.environ['DDL_TEST_WHERE']
_state = {'armed': _WHERE == 'error', 'cleanup': False, 'writes': 0, 'temps': 0}
_mkstemp = _tempfile.mkstemp
def _mkstemp_paused(*args, **kwargs):
    _state['temps'] += 1
    if _WHERE == 'temps' and _state['temps'] == 2:
        _state['armed'] = True
        _pause('work')
    result = _mkstemp(*args, **kwargs)
    if _WHERE == 'setup' and _state['temps'] == 1:
        _state['armed'] = True
        _pause('work')
    return result
_tempfile.mkstemp = _mkstemp_paused
def _removing(func):
    def remove(path, *args, **kwargs):
        if _state['armed'] and not _state['cleanup'] and '.tmp' in _os.fspath(path):
            _state['cleanup'] = True
            _pause('cleanup')
        return func(path, *args, **kwargs)
    return remove
_os.unlink = _removing(_os.unlink)
_os.remove = _removing(_os.remove)
import pathlib as _pathlib
if hasattr(_pathlib, '_NormalAccessor'):
    # Python < 3.11: Path.unlink calls the os.unlink it saw at import time
    _pathlib._NormalAccessor.unlink = staticmethod(_os.unlink)
if _WHERE == 'write':
    import datadings_like.writer as _writer
    def _paused(write):
        def paused(self, *args):
            _state['writes'] += 1
            if _state['writes'] == 10:
                _state['armed'] = True
                _pause('work')
            return write(self, *args)
        return paused
    _writer.RawWriter.write = _paused(_writer.RawWriter.write)
    _writer.FileWriter.write = _paused(_writer.FileWriter.write)
if _os.environ.get('DDL_TEST_SHUTDOWN'):
    import threading as _threading
    def _at_shutdown():
        # a non-daemon thread: the interpreter waits for it when it exits
        while _threading.main_thread().is_alive():
            _time.sleep(0.005)
        _pause('shutdown')
    _threading.Thread(target=_at_shutdown).start()
'''


def _scripts():
    """(tool, module, attribute) of every console script in pyproject.toml."""
    text = (ROOT / 'pyproject.toml').read_text(encoding='utf-8')
    section = text.split('[project.scripts]', 1)[1].split('\n[', 1)[0]
    return re.findall(r'^(datadings-[\w-]+)\s*=\s*"([\w.]+):(\w+)"', section, re.M)


SCRIPTS = _scripts()
TOOLS = [tool for tool, _, _ in SCRIPTS]


def _console_script(module, attr):
    # what pip's generated script does, after a sitecustomize or patches
    return (f'import re, sys\nfrom {module} import {attr}\n'
            f'sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])\n'
            f'sys.exit({attr}())\n')


class Child:
    """A tool in a session of its own, with marker files to meet it at."""

    def __init__(self, argv, tmp_path, env=None, cwd=None):
        self.marks = tmp_path / 'marks'
        self.marks.mkdir(exist_ok=True)
        full_env = dict(os.environ, DDL_TEST_MARKS=str(self.marks), **(env or {}))
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True, env=full_env, cwd=cwd,
        )

    def reached(self, name):
        """Wait until the child pauses at ``name``; False if it ended first."""
        deadline = time.monotonic() + WAIT
        while not (self.marks / name).exists():
            if self.proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, f'the child never reached {name}'
            time.sleep(0.005)
        return True

    def go(self, name):
        (self.marks / (name + '.go')).touch()

    def interrupt(self, times=1):
        """Ctrl-C as a terminal sends it: to the whole process group."""
        for _ in range(times):
            os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self):
        try:
            out, err = self.proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate()
            pytest.fail(f'the child hung; stderr: {err}')
        return self.proc.returncode, out, err


def assert_interrupted(status, err, tool):
    assert 'Traceback' not in err, err
    assert status == 130, (status, err)
    assert err == f'{tool}: interrupted\n', err


def leftovers(directory):
    """Hidden or temporary files: what an interrupted writer must not leave."""
    return sorted(p.name for p in Path(directory).iterdir()
                  if p.name.startswith('.') or '.tmp' in p.name)


# -------------------------------------------------------------- start-up

@pytest.fixture
def startup_env(tmp_path):
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    path = os.pathsep.join([str(site)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    return {'PYTHONPATH': path, 'DDL_TEST_PAUSE_IMPORTS': '1'}


def test_every_console_script_is_a_launcher():
    # the launchers set up Ctrl-C handling before the tool's module is imported
    import datadings_like.commands as commands
    assert len(SCRIPTS) == 13
    for tool, module, attr in SCRIPTS:
        assert module == 'datadings_like.commands', tool
        assert attr == tool.replace('-', '_') and callable(getattr(commands, attr)), tool


@pytest.mark.parametrize('tool, module, attr', SCRIPTS, ids=TOOLS)
def test_ctrl_c_while_a_console_script_imports(tmp_path, startup_env, tool, module, attr):
    child = Child([sys.executable, '-c', _console_script(module, attr), '--help'],
                  tmp_path, env=startup_env)
    assert child.reached('import'), child.finish()
    child.interrupt(2)  # a second one at once, as a process group may get
    child.go('import')
    status, _, err = child.finish()
    assert_interrupted(status, err, tool)


@pytest.mark.skipif(sys.version_info < (3, 10), reason='needs sys.orig_argv (Python 3.10)')
@pytest.mark.parametrize('tool', TOOLS)
def test_ctrl_c_while_python_m_imports(tmp_path, startup_env, tool):
    module = 'datadings_like.commands.' + tool[len('datadings-'):].replace('-', '_')
    child = Child([sys.executable, '-m', module, '--help'], tmp_path, env=startup_env)
    assert child.reached('import'), child.finish()
    child.interrupt()
    child.go('import')
    status, _, err = child.finish()
    assert_interrupted(status, err, tool)


def test_installed_console_script(tmp_path, startup_env, cli):
    script = Path(sys.executable).parent / 'datadings-shuffle'
    if not script.exists():
        pytest.skip('the console scripts are not installed next to this Python')
    if 'datadings_like.commands import datadings_shuffle' not in script.read_text(errors='replace'):
        pytest.skip(f'{script} predates the launchers: reinstall (pip install -e .)')
    data = cli.make(tmp_path / 'data.msgpack', 20)
    child = Child([str(script), data, tmp_path / 'out.msgpack'], tmp_path, env=startup_env)
    assert child.reached('import'), child.finish()
    child.interrupt()
    child.go('import')
    status, _, err = child.finish()
    assert_interrupted(status, err, 'datadings-shuffle')
    assert leftovers(tmp_path) == [] and not (tmp_path / 'out.msgpack').exists()


# ------------------------------------------------ work, clean-up, shutdown

def _tool_argv(tool, tmp_path, cli):
    """Command line of a tool that writes a dataset into ``tmp_path/out``."""
    src = tmp_path / 'src'
    src.mkdir()
    out = tmp_path / 'out'
    out.mkdir()
    if tool == 'write':
        return ['write', 'demo', '-o', out, '--train', 40, '--test', 0, '-y', '-q'], out
    data = cli.make(src / 'data.msgpack', 60)
    other = cli.make(src / 'other.msgpack', 30, prefix='o')
    target = out / 'result.msgpack'
    if tool == 'index':
        for path in cli.dataset_files(data):
            path.rename(out / path.name.replace('data', 'result', 1))
        (out / 'result.msgpack.offsets').unlink()
        return ['index', '-y', '-q', target], out
    return {
        'shuffle': ['shuffle', '-q', data, target],
        'merge': ['merge', '-q', data, other, target],
        'sample': ['sample', '-q', '-s', 'random', data, target, 30],
        'split': ['split', '-q', data, 20, '-o', target, out / 'second.msgpack'],
    }[tool], out


def _run_patched(tool_argv, tmp_path, where, shutdown=False):
    name, *args = tool_argv
    module = 'datadings_like.commands.' + name
    script = PATCHES + textwrap.dedent(f'''
        import sys
        from datadings_like._signals import startup
        startup('datadings-{name}')  # as the console script's launcher does
        import runpy
        sys.argv = ['datadings-{name}'] + {[str(a) for a in args]!r}
        runpy.run_module({module!r}, run_name='__main__')
    ''')
    env = {'DDL_TEST_WHERE': where}
    if shutdown:
        env['DDL_TEST_SHUTDOWN'] = '1'
    return Child([sys.executable, '-c', script], tmp_path, env=env)


WRITERS = [('shuffle', 'write'), ('merge', 'write'), ('sample', 'write'), ('split', 'write'),
           ('write', 'write'), ('shuffle', 'setup'), ('split', 'setup'), ('index', 'temps'),
           ('write', 'setup')]


@pytest.mark.parametrize('tool, where', WRITERS)
def test_ctrl_c_at_work_then_twice_during_cleanup(tmp_path, cli, tool, where):
    argv, out = _tool_argv(tool, tmp_path, cli)
    before = sorted(p.name for p in out.iterdir())
    child = _run_patched(argv, tmp_path, where)
    assert child.reached('work'), child.finish()
    child.interrupt()
    child.go('work')
    if child.reached('cleanup'):
        # an impatient user, or the group getting it twice: cleanup goes on
        child.interrupt()
        child.interrupt()
        time.sleep(0.05)
        child.interrupt()
        child.go('cleanup')
    status, _, err = child.finish()
    assert_interrupted(status, err, f'datadings-{tool}')
    assert leftovers(out) == []
    # no new output (index: the old files, without an index)
    assert sorted(p.name for p in out.iterdir()) == before


def test_ctrl_c_while_the_interpreter_exits(tmp_path, cli):
    # interrupted at work, then Ctrl-C twice while threading waits for a
    # thread at exit (where Python prints "Exception ignored in ...")
    argv, out = _tool_argv('shuffle', tmp_path, cli)
    child = _run_patched(argv, tmp_path, 'write', shutdown=True)
    assert child.reached('work'), child.finish()
    child.interrupt()
    child.go('work')
    assert child.reached('cleanup'), child.finish()
    child.go('cleanup')
    assert child.reached('shutdown'), child.finish()
    child.interrupt(2)
    time.sleep(0.05)
    child.go('shutdown')
    status, _, err = child.finish()
    assert_interrupted(status, err, 'datadings-shuffle')
    assert leftovers(out) == [] and list(out.iterdir()) == []


def test_ctrl_c_after_the_work_is_done(tmp_path, cli):
    # the output is complete; exiting is not interrupted
    argv, out = _tool_argv('merge', tmp_path, cli)
    child = _run_patched(argv, tmp_path, 'none', shutdown=True)
    assert child.reached('shutdown'), child.finish()
    child.interrupt(2)
    time.sleep(0.05)
    child.go('shutdown')
    status, _, err = child.finish()
    assert (status, err) == (0, '')
    assert leftovers(out) == []
    cli.verifies(out / 'result.msgpack')
    assert len(cli.keys(out / 'result.msgpack')) == 90


def test_ctrl_c_while_cleaning_up_after_an_error(tmp_path, cli):
    # a damaged input: the tool fails, its writer cleans up, Ctrl-C comes then
    argv, out = _tool_argv('shuffle', tmp_path, cli)
    data = Path(argv[2])
    damaged = bytearray(data.read_bytes())
    damaged[-1] ^= 1
    data.write_bytes(bytes(damaged))
    child = _run_patched(argv, tmp_path, 'error')
    assert child.reached('cleanup'), child.finish()
    child.interrupt(2)
    time.sleep(0.05)
    child.go('cleanup')
    status, _, err = child.finish()
    assert_interrupted(status, err, 'datadings-shuffle')
    assert leftovers(out) == [] and list(out.iterdir()) == []


POOL_TOOL = """
if __name__ == '__main__':
    from datadings_like._signals import startup
    startup('pooltool')
import os
import time


def main(argv):
    import multiprocessing.forkserver, multiprocessing.popen_spawn_posix  # noqa: E401,F401
    from datadings_like.sets.tools import process_pool
    # the pool's new processes (not this one) pause at their first import
    # of these, before they can ignore Ctrl-C
    os.environ['DDL_TEST_PAUSE_IMPORTS'] = 'socket,selectors,numpy'
    with process_pool(2) as pool:
        pool.submit(time.sleep, 0).result()
    print('done')


if __name__ == '__main__':
    from datadings_like.tools.cli import run_main
    run_main(main, prog='pooltool')
"""


@pytest.mark.skipif(sys.version_info < (3, 10), reason='the test needs sys.orig_argv')
def test_ctrl_c_while_pool_processes_start(tmp_path, startup_env):
    # a Ctrl-C to the process group reaches the conversion processes of
    # datadings-write too (CIFAR10 --threads N), while they still start
    import multiprocessing
    script = tmp_path / 'pooltool.py'
    script.write_text(POOL_TOOL)
    env = dict(startup_env)
    del env['DDL_TEST_PAUSE_IMPORTS']  # set by the tool for its pool
    child = Child([sys.executable, str(script)], tmp_path, env=env, cwd=tmp_path)
    starter = ('import-forkserver' if 'forkserver' in multiprocessing.get_all_start_methods()
               else 'import-spawn_main')
    assert child.reached(starter), child.finish()
    child.interrupt(2)
    time.sleep(0.05)
    for mark in list(child.marks.glob('import*')):
        child.go(mark.name)
    status, out, err = child.finish()
    assert out == ''
    assert_interrupted(status, err, 'pooltool')
