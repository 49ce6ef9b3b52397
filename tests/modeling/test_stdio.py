"""The one fd-1 redirection: C-level writes and Python prints both leave stdout."""

from __future__ import annotations

import ctypes
import os
import threading

import pytest

from modeling._stdio import redirect_stdout


def _c_write(text: str) -> None:
    """Write through C stdio (buffered), the way a solver's banner is written."""
    libc = ctypes.CDLL(None)
    libc.printf(text.encode())


def test_c_and_python_writes_go_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with redirect_stdout():
        print("python line")
        _c_write("c line\n")
        os.write(1, b"raw fd line\n")
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n"
    assert "python line" in err and "c line" in err and "raw fd line" in err


def test_devnull_discards_and_restores_an_enclosing_redirection(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with redirect_stdout():
        with redirect_stdout("devnull"):
            _c_write("banner\n")
            print("gone")
        print("kept on stderr")
    out, err = capfd.readouterr()
    assert "banner" not in out + err and "gone" not in out + err
    assert out == "" and "kept on stderr" in err


def test_overlapping_threads_leave_stdout_restored(capfd: pytest.CaptureFixture[str]) -> None:
    inside = threading.Barrier(2)
    release = threading.Event()

    def first() -> None:
        with redirect_stdout():
            inside.wait()
            release.wait()

    def second() -> None:
        with redirect_stdout():
            inside.wait()
        release.set()  # the second leaves first: fd 1 must still point at stderr

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.write(1, b"stdout again\n")
    out, _ = capfd.readouterr()
    assert out == "stdout again\n"


def test_disabled_is_a_no_op(capfd: pytest.CaptureFixture[str]) -> None:
    with redirect_stdout(enabled=False):
        print("visible")
    assert capfd.readouterr().out == "visible\n"
