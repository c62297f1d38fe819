import argparse
import os
import subprocess
import sys
import textwrap

import pytest

from datadings_like.tools import argparse as dargparse
from datadings_like.tools.cli import UserError, run_main


def test_make_parser_adds_common_arguments():
    parser = dargparse.make_parser('doc')
    args = parser.parse_args([])
    assert args.indir == '.' and args.outdir is None
    assert args.no_confirm is False and args.skip_verification is False
    assert args.shuffle is True
    args = parser.parse_args(['in', '-o', 'out', '-y', '-s', '--shuffle', 'no'])
    assert (args.indir, args.outdir, args.no_confirm, args.skip_verification, args.shuffle) == \
        ('in', 'out', True, True, False)


def test_make_parser_simple_adds_nothing():
    parser = dargparse.make_parser_simple('doc')
    assert parser.parse_args([]) == argparse.Namespace()
    with pytest.raises(SystemExit):
        parser.parse_args(['-y'])


@pytest.mark.parametrize('default, expected', [('yes', True), ('no', False)])
def test_shuffle_default_is_a_bool(default, expected):
    parser = argparse.ArgumentParser()
    dargparse.argument_shuffle(parser, default=default)
    assert parser.parse_args([]).shuffle is expected
    assert parser.parse_args(['--shuffle', 'yes']).shuffle is True
    assert parser.parse_args(['--shuffle', 'no']).shuffle is False
    with pytest.raises(SystemExit):
        parser.parse_args(['--shuffle', 'maybe'])


def test_threads_zero_means_all_cpus_and_is_clamped():
    parser = argparse.ArgumentParser()
    dargparse.argument_threads(parser, default=1, max_threads=4)
    assert parser.parse_args([]).threads == 1
    assert parser.parse_args(['-t', '0']).threads == 4
    assert parser.parse_args(['-t', '99']).threads == 4
    assert parser.parse_args(['-t', '-3']).threads == 4  # clamped to 0, then all
    assert parser.parse_args(['-t', '2']).threads == 2


def test_threads_negative_max_is_a_multiple_of_cpus(monkeypatch):
    monkeypatch.setattr(dargparse, '_cpu_count', lambda: 3)
    parser = argparse.ArgumentParser()
    dargparse.argument_threads(parser, max_threads=-2)
    assert parser.parse_args(['-t', '0']).threads == 6


def test_min_max_action():
    class Action(dargparse.MinMaxAction):
        min_value = 1
        max_value = 7
    parser = argparse.ArgumentParser()
    parser.add_argument('n', type=int, action=Action)
    assert [parser.parse_args([v]).n for v in ('0', '5', '9')] == [1, 5, 7]


def test_file_arguments_and_overrides():
    parser = argparse.ArgumentParser()
    dargparse.argument_infile(parser)
    dargparse.argument_outfile_positional(parser)
    dargparse.argument_outfiles(parser, '--outs', dest='outs')
    dargparse.argument_quiet(parser)
    dargparse.argument_seed(parser)
    dargparse.argument_calculate_weights(parser)
    args = parser.parse_args(['a', 'b', '--outs', 'c', 'd', '-q', '--seed', '3'])
    assert (args.infile, args.outfile, args.outs, args.quiet, args.seed) == ('a', 'b', ['c', 'd'], True, 3)
    assert args.calculate_weights is False


def run_snippet(body):
    script = textwrap.dedent('''
        import sys
        from datadings_like.tools.cli import run_main, UserError
        from datadings_like.errors import DatasetError
        def main(argv):
    ''') + textwrap.indent(textwrap.dedent(body), '    ') + '\nrun_main(main, prog="tool")\n'
    return subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize('body, status, message', [
    ('raise UserError("bad input")', 1, 'tool: error: bad input'),
    ('raise DatasetError("x.msgpack: damaged")', 1, 'tool: error: x.msgpack: damaged'),
    ('open("/nonexistent/file")', 1, 'tool: error: '),
    ('raise FileExistsError("out.msgpack exists")', 1, 'out.msgpack exists'),
    ('raise KeyboardInterrupt', 130, ''),
    ('return 3', 3, ''),
])
def test_run_main_turns_user_errors_into_one_line(body, status, message):
    proc = run_snippet(body)
    assert proc.returncode == status
    assert 'Traceback' not in proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 1


def test_run_main_keeps_tracebacks_for_bugs():
    proc = run_snippet('raise RuntimeError("a bug")')
    assert proc.returncode == 1 and 'Traceback' in proc.stderr


def test_run_main_closed_pipe_is_quiet():
    script = textwrap.dedent('''
        from datadings_like.tools.cli import run_main
        def main(argv):
            for i in range(10 ** 6):
                print('line', i)
        run_main(main, prog='tool')
    ''')
    proc = subprocess.run(f'{sys.executable} -c "{script}" | head -n 2', shell=True,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout.splitlines() == ['line 0', 'line 1']
    assert proc.stderr == ''


def test_user_error_in_process(capsys):
    def main(argv):
        raise UserError('nope')
    with pytest.raises(SystemExit) as exc:
        run_main(main, prog='t')
    assert exc.value.code == 1
    assert capsys.readouterr().err == 't: error: nope\n'


def test_sigterm_unwinds_and_leaves_no_temporary_files(tmp_path):
    import signal
    import time
    out = tmp_path / 'out'
    out.mkdir()
    script = tmp_path / 'tool.py'
    script.write_text(textwrap.dedent(f"""
        from datadings_like.tools.cli import run_main
        from datadings_like.writer import FileWriter
        def main(argv):
            with FileWriter({str(out / 'out.msgpack')!r}, disable=True) as writer:
                print('writing', flush=True)
                i = 0
                while True:
                    writer.write({{'key': str(i)}})
                    i += 1
        run_main(main, prog='tool')
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline() == 'writing\n'
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert 'Traceback' not in err
    assert os.listdir(out) == []


def test_closed_stdout_and_unencodable_text(tmp_path):
    script = tmp_path / 'tool.py'
    script.write_text(textwrap.dedent("""
        from datadings_like.tools.cli import run_main
        def main(argv):
            print('caf\\u00e9')
        run_main(main, prog='tool')
    """))
    proc = subprocess.run(f'{sys.executable} {script} >&-', shell=True,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr
    env = dict(os.environ, PYTHONIOENCODING='ascii')
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == 'caf\\xe9'


# ------------------------------------------------ Ctrl-C (issue 9, item 8)

def test_ctrl_c_prints_one_line_and_exits_130():
    proc = run_snippet('raise KeyboardInterrupt')
    assert (proc.returncode, proc.stderr) == (130, 'tool: interrupted\n')
    # the prompt's "abort" raises KeyboardInterrupt too
    proc = run_snippet('raise KeyboardInterrupt("out.msgpack")')
    assert (proc.returncode, proc.stderr) == (130, 'tool: interrupted\n')


def test_run_main_in_process_restores_the_signal_handlers():
    import signal
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    if before != {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}:
        pytest.skip('the test runner has signal handlers of its own')
    seen = {}

    def main(argv):
        seen.update({s: signal.getsignal(s) for s in before})
    with pytest.raises(SystemExit):
        run_main(main, [], prog='t')
    assert all(seen[s] is not before[s] for s in before)  # handled while it ran
    assert {s: signal.getsignal(s) for s in before} == before


def test_run_main_keeps_handlers_someone_else_installed():
    import signal

    def mine(signum, frame):
        pass
    previous = signal.signal(signal.SIGINT, mine)
    try:
        seen = []
        with pytest.raises(SystemExit):
            run_main(lambda argv: seen.append(signal.getsignal(signal.SIGINT)), [], prog='t')
        assert seen == [mine] and signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)


def test_second_ctrl_c_does_not_interrupt_the_cleanup(tmp_path):
    # the first Ctrl-C unwinds; one during the clean-up is ignored
    script = textwrap.dedent('''
        import os, signal, time
        from datadings_like.tools.cli import run_main
        def main(argv):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
                print('not interrupted', flush=True)
            finally:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)  # a handler runs here, and must not raise
                print('cleanup finished', flush=True)
        run_main(main, prog='tool')
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == \
        (130, 'cleanup finished\n', 'tool: interrupted\n')


@pytest.mark.skipif(not hasattr(__import__('signal'), 'pthread_kill'), reason='POSIX threads')
def test_ctrl_c_held_back_by_the_main_thread_waits_even_if_another_thread_gets_it():
    # writers block SIGINT in the main thread while they commit; a helper
    # thread (reader, hasher) may receive the signal instead: it must still
    # wait until the main thread lets go
    script = textwrap.dedent('''
        import signal, threading, time
        from datadings_like.tools.cli import run_main
        def main(argv):
            helper = threading.Thread(target=time.sleep, args=(30,), daemon=True)
            helper.start()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                signal.pthread_kill(helper.ident, signal.SIGINT)
                for _ in range(20):
                    time.sleep(0.01)  # Python code runs: handlers get their chance
                print('commit finished', flush=True)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            time.sleep(5)
            print('not interrupted', flush=True)
        run_main(main, prog='tool')
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == \
        (130, 'commit finished\n', 'tool: interrupted\n')


@pytest.mark.parametrize('argv, module', [
    (['python', '-m', 'datadings_like.commands.cat', 'x'], 'datadings_like.commands.cat'),
    (['python', '-mdatadings_like.commands.cat'], 'datadings_like.commands.cat'),
    (['python', '-B', '-X', 'dev', '-W', 'ignore', '-m', 'mod', '-m'], 'mod'),
    (['python', '-Xdev', '-Im', 'mod'], 'mod'),
    (['python', '-c', 'code', '-m', 'mod'], None),
    (['python', 'script.py', '-m', 'mod'], None),
    (['python', '-', '-m', 'mod'], None),
    (['python', '--check-hash-based-pycs', 'always', '-m', 'mod'], 'mod'),
    (['python', '--version', '-m', 'mod'], None),
])
def test_module_run_is_recognized(argv, module):
    from datadings_like._signals import _module_after_m
    assert _module_after_m(argv) == module
